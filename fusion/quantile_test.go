package fusion

import (
	"testing"
	"time"
)

func TestQuantileDuration(t *testing.T) {
	s := []time.Duration{10, 20, 30, 40}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0, 10}, {0.5, 25}, {1, 40}, {2, 40}, {1.0 / 3, 20}} {
		if got := QuantileDuration(s, tt.q); got != tt.want {
			t.Errorf("q %v: %v, want %v", tt.q, got, tt.want)
		}
		if got, want := QuantileDuration(s, tt.q), time.Duration(QuantileSorted([]float64{10, 20, 30, 40}, tt.q)); got != want {
			t.Errorf("q %v: %v, QuantileSorted says %v", tt.q, got, want)
		}
	}
	if QuantileDuration(nil, 0.5) != 0 {
		t.Error("empty sample")
	}
}
