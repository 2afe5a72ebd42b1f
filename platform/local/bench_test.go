package local

import (
	"context"
	"os"
	"testing"
)

// TestBenchTable runs the benchmark that `fusionize platform bench` prints, with the test
// function, and logs its table. It is skipped unless FUSIONIZE_BENCH=1, as it takes seconds.
func TestBenchTable(t *testing.T) {
	if os.Getenv("FUSIONIZE_BENCH") == "" {
		t.Skip("set FUSIONIZE_BENCH=1 to run the benchmark")
	}
	opts := BenchOptions{Progress: testWriter{t}, Cgroups: os.Getenv("FUSIONIZE_BENCH_CGROUPS")}
	if os.Getenv("FUSIONIZE_BENCH_BUILD") == "" {
		opts.Zip = zipV1
	}
	res, err := Bench(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		t.Fatal(err)
	}
}
