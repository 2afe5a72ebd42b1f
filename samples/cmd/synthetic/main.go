// Command synthetic is the bundle main of the synthetic app; its graph and work come from the
// spec given at deploy time (see package synthetic). Build it with
// `fusionize bundle ./samples/cmd/synthetic`.
package main

import (
	"fmt"
	"os"

	"github.com/fusionize/fusionize/samples/synthetic"
)

func main() {
	spec, err := synthetic.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "synthetic app: %v\n", err)
		os.Exit(1)
	}
	spec.Sample().App.Main()
}
