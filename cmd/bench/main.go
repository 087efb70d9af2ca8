// Command bench runs the benchmark drivers (see package bench).
package main

import "github.com/dledgermq/dledgermq/cli"

func main() { cli.Main(cli.BenchApp()) }
