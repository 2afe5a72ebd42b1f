// Package samples holds the applications of the Fusionize++ paper with their exact call graphs
// — IoT (10 tasks), Tree (7) and the web shop (17) — and, in package synthetic, an app whose
// graph and work come from a spec file. Each sample is a runtime.App plus its declared
// fusion.Graph and a request payload; samples/cmd/<name> are their bundle mains.
//
// Work is real (see package work): CPU work on two goroutines where the paper's tasks used two
// threads, waits where they waited on I/O, and an embedded key-value store with DynamoDB-like
// latency where they used DynamoDB. At FUSIONIZE_WORK_SCALE=1 requests take the same order of
// time as in the paper.
package samples

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/runtime"
)

// Sample is one application: its tasks, its declared call graph, and a request to send it.
type Sample struct {
	App     *runtime.App
	Graph   fusion.Graph
	Request []byte // a representative request payload for the entry task
}

// Names lists the built-in samples.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var registry = map[string]func() Sample{
	"iot":     IoT,
	"tree":    Tree,
	"webshop": WebShop,
}

// ByName returns a built-in sample.
func ByName(name string) (Sample, error) {
	f, ok := registry[name]
	if !ok {
		return Sample{}, fmt.Errorf("no sample %q (samples: %v)", name, Names())
	}
	return f(), nil
}

// decode reads a task's JSON input as T, naming T when it cannot.
func decode[T any](in []byte) (T, error) {
	var v T
	if err := json.Unmarshal(in, &v); err != nil {
		return v, fmt.Errorf("decode %T: %w", v, err)
	}
	return v, nil
}
