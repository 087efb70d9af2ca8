// Command dledger-broker runs one replica of a Raft-replicated broker group.
package main

import "github.com/dledgermq/dledgermq/cli"

func main() { cli.Main(cli.BrokerApp()) }
