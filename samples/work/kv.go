package work

import (
	"context"
	"sync"
)

// KVLatencyMS is the simulated latency of one key-value operation: DynamoDB's single-digit
// milliseconds for a small item read or write from Lambda in the same region.
const KVLatencyMS = 4

// KV is the samples' key-value store, standing in for the paper's DynamoDB tables.
//
// It is embedded: each function instance holds its own in-memory table, and every operation
// waits KVLatencyMS (scaled) like a network round trip. Data written by one instance is
// therefore not seen by another; the samples only read what they may miss (a read of a
// missing key returns nothing), so their results do not depend on where tasks run. The
// latency, not the shared state, is what the optimizer sees of DynamoDB.
type KV struct {
	mu   sync.Mutex
	data map[string][]byte
}

// Store is the process-wide store shared by the tasks of one function instance.
var Store = &KV{data: map[string][]byte{}}

// Get returns the value of key, or nil.
func (s *KV) Get(ctx context.Context, key string) ([]byte, error) {
	if err := IO(ctx, KVLatencyMS); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[key], nil
}

// Put stores value under key.
func (s *KV) Put(ctx context.Context, key string, value []byte) error {
	if err := IO(ctx, KVLatencyMS); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.data) > 10_000 { // bounded: a long load test must not grow an instance forever
		clear(s.data)
	}
	s.data[key] = append([]byte(nil), value...)
	return nil
}
