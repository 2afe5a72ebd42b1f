// Command iot is the bundle main of the iot sample: build it with `fusionize bundle ./samples/cmd/iot`.
package main

import "github.com/fusionize/fusionize/samples"

func main() { samples.IoT().App.Main() }
