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
	app.Register("I", iotI)
	app.Register("CW", iotCW)
	app.Register("SE", iotSE)
	app.Register("CT", iotCT)
	app.Register("CS", iotCS)
	app.Register("CSL", iotCSL)
	app.Register("CSA", iotCSA)
	app.Register("CA", iotCA)
	app.Register("DJ", iotDJ)
	app.Register("AS", iotAS)
	return Sample{
		App:     app,
		Graph:   apps.IoTGraph(),
		Request: []byte(`{"sensor":"s-17","value":42.5,"seq":1}`),
	}
}

// iotI is the IoT task I: it ingests a reading: checks warnings and stores the event (sync),
// starts the analyses (async).
func iotI(ctx context.Context, in []byte) ([]byte, error) {
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
}

// iotCW is the IoT task CW: it checks the reading for a warning.
func iotCW(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	work.CPU(ctx, 3, 1)
	return json.Marshal(r.Value > 80)
}

// iotSE is the IoT task SE: it stores the event.
func iotSE(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	return []byte(`"stored"`), work.Store.Put(ctx, fmt.Sprintf("event/%s/%d", r.Sensor, r.Seq), in)
}

// iotCT is the IoT task CT: it computes trends (CPU work) and updates statistics (async).
func iotCT(ctx context.Context, in []byte) ([]byte, error) {
	sum := work.CPU(ctx, 40, 2)
	if err := runtime.CallAsync(ctx, "AS", in); err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// iotCS is the IoT task CS: it checks the sensor: its limits and aggregates (sync).
func iotCS(ctx context.Context, in []byte) ([]byte, error) {
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
}

// iotCSL is the IoT task CSL: it checks the sensor's limits.
func iotCSL(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	limit, err := work.Store.Get(ctx, "limit/"+r.Sensor)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"limit": string(limit), "ok": r.Value < 100})
}

// iotCSA is the IoT task CSA: it updates the sensor's aggregates.
func iotCSA(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	if _, err := work.Store.Get(ctx, "agg/"+r.Sensor); err != nil {
		return nil, err
	}
	return []byte(`"aggregated"`), work.Store.Put(ctx, "agg/"+r.Sensor, in)
}

// iotCA is the IoT task CA: it analyses: joins data (sync) and updates statistics (async).
func iotCA(ctx context.Context, in []byte) ([]byte, error) {
	work.CPU(ctx, 1, 1)
	j, err := runtime.Call(ctx, "DJ", in)
	if err != nil {
		return nil, err
	}
	if err := runtime.CallAsync(ctx, "AS", in); err != nil {
		return nil, err
	}
	return j, nil
}

// iotDJ is the IoT task DJ: it joins data (CPU work).
func iotDJ(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	if _, err := work.Store.Get(ctx, "event/"+r.Sensor); err != nil {
		return nil, err
	}
	return json.Marshal(work.CPU(ctx, 25, 2))
}

// iotAS is the IoT task AS: it updates statistics (CPU work and a store write).
func iotAS(ctx context.Context, in []byte) ([]byte, error) {
	r, err := decode[Reading](in)
	if err != nil {
		return nil, err
	}
	sum := work.CPU(ctx, 15, 2)
	if err := work.Store.Put(ctx, "stats/"+r.Sensor, in); err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}
