// Package temporalprom serves the metrics of the Temporal SDK — the SDK's own and those
// workflows emit through workflow.GetMetricsHandler (package workflows' Metric* names) — as
// Prometheus metrics: NewHandler gives the client.MetricsHandler a Temporal client takes in
// client.Options.MetricsHandler, backed by one collector on a prometheus.Registerer.
package temporalprom

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// timerBuckets are the histogram buckets (seconds) of the SDK's timers.
var timerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// NewHandler returns a Temporal SDK metrics handler (for client.Options.
// MetricsHandler) that serves every metric the SDK and the workflows emit as Prometheus
// metrics through one collector registered on reg: counters as counters (named with
// "_total"), gauges as gauges, timers as histograms in seconds (named with "_seconds").
// Tags become labels; series of one name that differ in their tag keys get the union of
// the keys, with empty values for the missing ones.
func NewHandler(reg prometheus.Registerer) (client.MetricsHandler, error) {
	if reg == nil {
		return nil, errors.New("prometheus handler: no Registerer")
	}
	c := &sdkCollector{series: map[string]*series{}}
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	return &promHandler{c: c}, nil
}

type kind uint8

const (
	counterKind kind = iota
	gaugeKind
	timerKind
)

type series struct {
	name   string
	kind   kind
	tags   map[string]string
	value  float64
	count  uint64
	sum    float64
	bucket []uint64
}

type sdkCollector struct {
	mu     sync.Mutex
	series map[string]*series
}

func (c *sdkCollector) get(name string, k kind, tags map[string]string) *series {
	keys := slices.Sorted(maps.Keys(tags))
	var b strings.Builder
	b.WriteString(name)
	for _, t := range keys {
		b.WriteByte(0)
		b.WriteString(t)
		b.WriteByte(1)
		b.WriteString(tags[t])
	}
	id := b.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.series[id]
	if s == nil {
		s = &series{name: name, kind: k, tags: tags}
		if k == timerKind {
			s.bucket = make([]uint64, len(timerBuckets))
		}
		c.series[id] = s
	}
	return s
}

// Describe sends nothing: the collector is unchecked because its metrics appear as the SDK
// emits them.
func (c *sdkCollector) Describe(chan<- *prometheus.Desc) {}

func (c *sdkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string][]*series{}
	for _, s := range c.series {
		byName[s.name] = append(byName[s.name], s)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		ss := byName[name]
		labelSet := map[string]bool{}
		for _, s := range ss {
			for k := range s.tags {
				labelSet[k] = true
			}
		}
		keys := slices.Sorted(maps.Keys(labelSet))
		labels := make([]string, len(keys))
		for i, k := range keys {
			labels[i] = sanitize(k)
		}
		k := ss[0].kind
		promName := sanitize(name)
		switch k {
		case counterKind:
			if !strings.HasSuffix(promName, "_total") {
				promName += "_total"
			}
		case timerKind:
			if !strings.HasSuffix(promName, "_seconds") {
				promName += "_seconds"
			}
		}
		desc := prometheus.NewDesc(promName, "Temporal SDK metric "+name+".", labels, nil)
		for _, s := range ss {
			if s.kind != k {
				continue // the same name used as two kinds: keep the first
			}
			vals := make([]string, len(keys))
			for i, key := range keys {
				vals[i] = s.tags[key]
			}
			var m prometheus.Metric
			var err error
			switch k {
			case counterKind:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, s.value, vals...)
			case gaugeKind:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, s.value, vals...)
			case timerKind:
				buckets := make(map[float64]uint64, len(timerBuckets))
				for i, ub := range timerBuckets {
					buckets[ub] = s.bucket[i]
				}
				m, err = prometheus.NewConstHistogram(desc, s.count, s.sum, buckets, vals...)
			}
			if err == nil {
				ch <- m
			}
		}
	}
}

// sanitize makes a Prometheus metric or label name.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

type promHandler struct {
	c    *sdkCollector
	tags map[string]string
}

func (h *promHandler) WithTags(tags map[string]string) client.MetricsHandler {
	t := maps.Clone(h.tags)
	if t == nil {
		t = map[string]string{}
	}
	maps.Copy(t, tags)
	return &promHandler{c: h.c, tags: t}
}

func (h *promHandler) Counter(name string) client.MetricsCounter {
	s := h.c.get(name, counterKind, h.tags)
	return counterFunc(func(d int64) {
		h.c.mu.Lock()
		s.value += float64(d)
		h.c.mu.Unlock()
	})
}

func (h *promHandler) Gauge(name string) client.MetricsGauge {
	s := h.c.get(name, gaugeKind, h.tags)
	return gaugeFunc(func(v float64) {
		h.c.mu.Lock()
		s.value = v
		h.c.mu.Unlock()
	})
}

func (h *promHandler) Timer(name string) client.MetricsTimer {
	s := h.c.get(name, timerKind, h.tags)
	return timerFunc(func(d time.Duration) {
		sec := d.Seconds()
		h.c.mu.Lock()
		s.count++
		s.sum += sec
		for i, ub := range timerBuckets {
			if sec <= ub {
				s.bucket[i]++
			}
		}
		h.c.mu.Unlock()
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
