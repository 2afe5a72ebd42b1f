// Command fusionize is the Fusionize command line; all behaviour lives in package cli.
package main

import (
	"os"

	"github.com/fusionize/fusionize/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
