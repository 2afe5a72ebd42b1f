package samples

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fusionize/fusionize/fusion/apps"
	"github.com/fusionize/fusionize/runtime"
	"github.com/fusionize/fusionize/samples/work"
)

// Reading is the IoT app's request: one sensor measurement.
type Reading struct {
	Sensor string  `json:"sensor"`
	Value  float64 `json:"value"`
	Seq    int     `json:"seq"`
}

// IoT is the paper's IoT application (10 tasks, entry I): I ingests a sensor reading, checks
// warnings (CW) and stores the event (SE) synchronously, and starts the analyses CT, CS and CA
// asynchronously. CS checks sensor limits (CSL) and sensor aggregates (CSA); CA joins data
// (DJ) and updates statistics (AS), which CT also updates. CT, DJ and AS do two-thread CPU
// work; SE, CSL, CSA, AS and DJ use the key-value store.
func IoT() Sample {
	app := runtime.NewApp("iot")
	app.Register("I", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		work.CPU(ctx, 1, 1)
		warn, err := runtime.Call(ctx, "CW", in)
		if err != nil {
			return nil, err
		}
		if _, err := runtime.Call(ctx, "SE", in); err != nil {
			return nil, err
		}
		for _, t := range []string{"CT", "CS", "CA"} {
			if err := runtime.CallAsync(ctx, t, in); err != nil {
				return nil, err
			}
		}
		return json.Marshal(map[string]any{"sensor": r.Sensor, "seq": r.Seq, "warning": json.RawMessage(warn)})
	})
	app.Register("CW", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		work.CPU(ctx, 3, 1)
		return json.Marshal(r.Value > 80)
	})
	app.Register("SE", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		return []byte(`"stored"`), work.Store.Put(ctx, fmt.Sprintf("event/%s/%d", r.Sensor, r.Seq), in)
	})
	app.Register("CT", func(ctx context.Context, in []byte) ([]byte, error) {
		sum := work.CPU(ctx, 40, 2)
		if err := runtime.CallAsync(ctx, "AS", in); err != nil {
			return nil, err
		}
		return json.Marshal(sum)
	})
	app.Register("CS", func(ctx context.Context, in []byte) ([]byte, error) {
		work.CPU(ctx, 1, 1)
		l, err := runtime.Call(ctx, "CSL", in)
		if err != nil {
			return nil, err
		}
		a, err := runtime.Call(ctx, "CSA", in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]json.RawMessage{"limits": l, "aggregates": a})
	})
	app.Register("CSL", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		limit, err := work.Store.Get(ctx, "limit/"+r.Sensor)
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"limit": string(limit), "ok": r.Value < 100})
	})
	app.Register("CSA", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		if _, err := work.Store.Get(ctx, "agg/"+r.Sensor); err != nil {
			return nil, err
		}
		return []byte(`"aggregated"`), work.Store.Put(ctx, "agg/"+r.Sensor, in)
	})
	app.Register("CA", func(ctx context.Context, in []byte) ([]byte, error) {
		work.CPU(ctx, 1, 1)
		j, err := runtime.Call(ctx, "DJ", in)
		if err != nil {
			return nil, err
		}
		if err := runtime.CallAsync(ctx, "AS", in); err != nil {
			return nil, err
		}
		return j, nil
	})
	app.Register("DJ", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		if _, err := work.Store.Get(ctx, "event/"+r.Sensor); err != nil {
			return nil, err
		}
		return json.Marshal(work.CPU(ctx, 25, 2))
	})
	app.Register("AS", func(ctx context.Context, in []byte) ([]byte, error) {
		r, err := decode[Reading](in)
		if err != nil {
			return nil, err
		}
		sum := work.CPU(ctx, 15, 2)
		if err := work.Store.Put(ctx, "stats/"+r.Sensor, in); err != nil {
			return nil, err
		}
		return json.Marshal(sum)
	})
	return Sample{
		App:     app,
		Graph:   apps.IoTGraph(),
		Request: []byte(`{"sensor":"s-17","value":42.5,"seq":1}`),
	}
}
