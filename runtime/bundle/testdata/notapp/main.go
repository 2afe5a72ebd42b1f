// Command notapp is a main package that is not a Fusionize app, for the bundle tests.
package main

func main() {}
