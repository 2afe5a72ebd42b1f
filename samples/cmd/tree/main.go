// Command tree is the bundle main of the tree sample: build it with `fusionize bundle ./samples/cmd/tree`.
package main

import "github.com/fusionize/fusionize/samples"

func main() { samples.Tree().App.Main() }
