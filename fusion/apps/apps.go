// Package apps holds the paper's applications as data, for tests and for the offline
// evaluation of planners: their exact call graphs (from DESIGN.md) and a ground-truth work
// model of each task (sim.App) that makes their traces. Work figures are chosen to match the
// paper's descriptions (which tasks do two-thread CPU work, which wait on a key-value store
// or sleep) and its all-remote latencies in order of magnitude; they are not measurements.
package apps

import (
	"fmt"
	"math/rand/v2"

	"github.com/fusionize/fusionize/fusion"
	"github.com/fusionize/fusionize/fusion/sim"
)

func edges(spec ...string) []fusion.Edge {
	var out []fusion.Edge
	for i := 0; i < len(spec); i += 3 {
		m := fusion.Sync
		if spec[i+2] == "async" {
			m = fusion.Async
		}
		out = append(out, fusion.Edge{Caller: spec[i], Callee: spec[i+1], Mode: m})
	}
	return out
}

// IoTGraph is the IoT app: 10 tasks, entry I.
func IoTGraph() fusion.Graph {
	return fusion.Graph{
		Entry: "I",
		Tasks: []string{"I", "CW", "SE", "CT", "CS", "CA", "CSL", "CSA", "DJ", "AS"},
		Edges: edges(
			"I", "CW", "sync", "I", "SE", "sync", "I", "CT", "async", "I", "CS", "async", "I", "CA", "async",
			"CS", "CSL", "sync", "CS", "CSA", "sync", "CA", "DJ", "sync", "CA", "AS", "async", "CT", "AS", "async"),
	}
}

// IoT returns the IoT app's ground truth: CT, DJ and AS do two-thread CPU work; SE, CSL,
// CSA, AS and DJ read or write a key-value store.
func IoT() sim.App {
	return sim.App{
		Name:  "iot",
		Graph: IoTGraph(),
		Work: map[string]sim.Work{
			"I":   {CPUMS: 2},
			"CW":  {CPUMS: 3},
			"SE":  {CPUMS: 1, IOMS: 15},
			"CT":  {CPUMS: 120, Threads: 2},
			"CS":  {CPUMS: 2},
			"CA":  {CPUMS: 2},
			"CSL": {CPUMS: 1, IOMS: 12},
			"CSA": {CPUMS: 1, IOMS: 12},
			"DJ":  {CPUMS: 80, Threads: 2, IOMS: 12},
			"AS":  {CPUMS: 80, Threads: 2, IOMS: 12},
		},
	}
}

// TreeGraph is the tree app: 7 tasks, entry A.
func TreeGraph() fusion.Graph {
	return fusion.Graph{
		Entry: "A",
		Tasks: []string{"A", "B", "C", "D", "E", "F", "G"},
		Edges: edges("A", "B", "sync", "A", "C", "async", "B", "D", "sync", "D", "E", "sync", "C", "F", "async", "C", "G", "async"),
	}
}

// Tree returns the tree app's ground truth: B, D and E wait 500 ms (I/O); C, F and G do
// two-thread CPU work.
func Tree() sim.App {
	return sim.App{
		Name:  "tree",
		Graph: TreeGraph(),
		Work: map[string]sim.Work{
			"A": {CPUMS: 1},
			"B": {CPUMS: 1, IOMS: 500},
			"D": {CPUMS: 1, IOMS: 500},
			"E": {CPUMS: 1, IOMS: 500},
			"C": {CPUMS: 150, Threads: 2},
			"F": {CPUMS: 150, Threads: 2},
			"G": {CPUMS: 150, Threads: 2},
		},
	}
}

// WebShopGraph is the web shop after the BeFaaS web shop: 17 tasks, entry frontend.
// DESIGN.md lists the calls between 14 of them; the other three BeFaaS functions are called
// as in BeFaaS: frontend → getproduct and searchproducts (sync, on some routes), checkout →
// payment (sync).
func WebShopGraph() fusion.Graph {
	return fusion.Graph{
		Entry: "frontend",
		Tasks: []string{"frontend", "supportedcurrencies", "listproducts", "currency", "getads", "getcart",
			"listrecommendations", "checkout", "addcartitem", "emptycart", "shipmentquote", "shiporder",
			"email", "cartkvstorage", "getproduct", "searchproducts", "payment"},
		Edges: edges(
			"frontend", "supportedcurrencies", "sync", "frontend", "listproducts", "sync", "frontend", "currency", "sync",
			"frontend", "getads", "sync", "frontend", "getcart", "sync", "frontend", "listrecommendations", "sync",
			"frontend", "checkout", "async", "frontend", "addcartitem", "async", "frontend", "emptycart", "async",
			"checkout", "getcart", "sync", "checkout", "listproducts", "sync", "checkout", "currency", "sync",
			"checkout", "shipmentquote", "sync", "checkout", "shiporder", "async", "checkout", "email", "async",
			"checkout", "emptycart", "async",
			"getcart", "cartkvstorage", "sync", "addcartitem", "cartkvstorage", "async",
			"frontend", "getproduct", "sync", "frontend", "searchproducts", "sync", "checkout", "payment", "sync"),
	}
}

// WebShop returns the web shop's ground truth: light CPU work and key-value store waits;
// routes make some calls only on some requests.
func WebShop() sim.App {
	return sim.App{
		Name:  "webshop",
		Graph: WebShopGraph(),
		Work: map[string]sim.Work{
			"frontend":            {CPUMS: 6},
			"supportedcurrencies": {CPUMS: 1},
			"listproducts":        {CPUMS: 3, IOMS: 4},
			"currency":            {CPUMS: 2},
			"getads":              {CPUMS: 2},
			"getcart":             {CPUMS: 1},
			"listrecommendations": {CPUMS: 8},
			"checkout":            {CPUMS: 6},
			"addcartitem":         {CPUMS: 1},
			"emptycart":           {CPUMS: 1, IOMS: 5},
			"shipmentquote":       {CPUMS: 2},
			"shiporder":           {CPUMS: 2, IOMS: 10},
			"email":               {CPUMS: 3, IOMS: 20},
			"cartkvstorage":       {CPUMS: 1, IOMS: 6},
			"getproduct":          {CPUMS: 2, IOMS: 4},
			"searchproducts":      {CPUMS: 5, IOMS: 4},
			"payment":             {CPUMS: 3, IOMS: 10},
		},
		Calls: map[string]float64{
			"frontend>checkout": 0.3, "frontend>addcartitem": 0.4, "frontend>emptycart": 0.1,
			"frontend>getproduct": 0.5, "frontend>searchproducts": 0.2,
		},
	}
}

// Synthetic returns a random app of n tasks (t00 … t{n-1}, entry t00), deterministic for a
// seed: each task after the first is called by one earlier task (a tree), a quarter of the
// calls async, with mixed CPU and I/O work.
func Synthetic(n int, seed uint64) sim.App {
	rng := rand.New(rand.NewPCG(seed, 40))
	a := sim.App{Name: fmt.Sprintf("synthetic%d", n), Work: map[string]sim.Work{}}
	a.Graph.Entry = "t00"
	for i := range n {
		name := fmt.Sprintf("t%02d", i)
		a.Graph.Tasks = append(a.Graph.Tasks, name)
		w := sim.Work{CPUMS: 1 + rng.Float64()*10}
		if rng.IntN(3) == 0 {
			w.IOMS = rng.Float64() * 30
		}
		if rng.IntN(6) == 0 {
			w.CPUMS, w.Threads = 40+rng.Float64()*100, 2
		}
		a.Work[name] = w
		if i == 0 {
			continue
		}
		parent := fmt.Sprintf("t%02d", max(0, i-1-rng.IntN(4)))
		mode := fusion.Sync
		if rng.IntN(4) == 0 {
			mode = fusion.Async
		}
		a.Graph.Edges = append(a.Graph.Edges, fusion.Edge{Caller: parent, Callee: name, Mode: mode})
	}
	return a
}

// All returns the paper's three apps.
func All() []sim.App { return []sim.App{IoT(), Tree(), WebShop()} }
