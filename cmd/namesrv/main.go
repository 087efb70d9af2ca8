// Command namesrv runs a RocketMQ-compatible NameServer.
package main

import "github.com/dledgermq/dledgermq/cli"

func main() { cli.Main(cli.NamesrvApp()) }
