// Command webshop is the bundle main of the webshop sample: build it with `fusionize bundle ./samples/cmd/webshop`.
package main

import "github.com/fusionize/fusionize/samples"

func main() { samples.WebShop().App.Main() }
