package fusion

// Metrics are the latency and cost figures of a setup, predicted (by a planner's model) or
// observed (from its traces). The cel tags name the fields as CEL policies see them
// (package fusion/constraint).
type Metrics struct {
	MedianMS       float64 `json:"medianMS" cel:"median_ms"`
	P95MS          float64 `json:"p95MS" cel:"p95_ms"`
	CostPerRequest float64 `json:"costPerRequest" cel:"cost_per_request"`
	ColdStartRate  float64 `json:"coldStartRate" cel:"cold_start_rate"`
	Requests       int64   `json:"requests" cel:"requests"`
}
