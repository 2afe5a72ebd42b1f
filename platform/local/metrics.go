package local

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Invocation outcomes, the values of the "outcome" label.
const (
	outcomeSuccess       = "success"
	outcomeFunctionError = "function_error"
	outcomeTimeout       = "timeout"
	outcomeCrash         = "crash"
)

// metrics are the platform's Prometheus collectors. Labels are bounded: the function name and
// the outcome; a deleted function's series are removed.
type metrics struct {
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	throttles   *prometheus.CounterVec
	coldStarts  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	billed      *prometheus.HistogramVec
	instances   *prometheus.GaugeVec
	gbSeconds   *prometheus.CounterVec
	functions   prometheus.GaugeFunc
	profile     *prometheus.GaugeVec

	machineBusy      prometheus.Gauge
	saturated        prometheus.Gauge
	saturatedSeconds prometheus.Counter
	startWaits       prometheus.Counter
}

// newMetrics makes the collectors; functions reports the number of deployed functions.
func newMetrics(functions func() float64) *metrics {
	const ns, sub = "fusionize", "platform"
	buckets := prometheus.ExponentialBuckets(0.0005, 2, 18) // 0.5 ms .. ~65 s
	return &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "invocations_total",
			Help: "Invocations that ran, by function and outcome (success, function_error, timeout, crash).",
		}, []string{"function", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Invocations that ended in a function error, a timeout or a crash.",
		}, []string{"function"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "throttles_total",
			Help: "Synchronous invocations refused with TooManyRequestsException.",
		}, []string{"function"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cold_starts_total",
			Help: "Invocations that started a new instance.",
		}, []string{"function"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "duration_seconds",
			Help: "Invocation duration as in the REPORT line.", Buckets: buckets,
		}, []string{"function"}),
		billed: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "billed_duration_seconds",
			Help: "Billed duration (duration rounded up to 1 ms).", Buckets: buckets,
		}, []string{"function"}),
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "instances",
			Help: "Running instances (processes), busy or idle.",
		}, []string{"function"}),
		gbSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "gb_seconds_total",
			Help: "Billed duration times memory size in GB, as Lambda charges compute.",
		}, []string{"function"}),
		functions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "functions",
			Help: "Deployed functions.",
		}, functions),
		profile: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "latency_profile_info",
			Help: "1 for the latency profile the platform adds to invocations (none or aws).",
		}, []string{"profile"}),
		machineBusy: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "machine_cpu_busy_ratio",
			Help: "Share of the machine's CPU time that was busy over the last ten seconds.",
		}),
		saturated: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "cpu_saturated",
			Help: "1 while the machine's CPU is saturated (busy at least 90 % over ten seconds): figures are not Lambda-like then.",
		}),
		saturatedSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "cpu_saturated_seconds_total",
			Help: "Seconds the machine's CPU was saturated.",
		}),
		startWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "start_waits_total",
			Help: "Requests that needed a new instance and waited because MaxStarting instances were starting.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.invocations, m.errors, m.throttles, m.coldStarts, m.duration, m.billed, m.instances, m.gbSeconds, m.functions, m.profile, m.machineBusy, m.saturated, m.saturatedSeconds, m.startWaits}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

// observe records one finished invocation.
func (m *metrics) observe(fn, outcome string, cold bool, d, billed time.Duration, memoryMB int) {
	m.invocations.WithLabelValues(fn, outcome).Inc()
	if outcome != outcomeSuccess {
		m.errors.WithLabelValues(fn).Inc()
	}
	if cold {
		m.coldStarts.WithLabelValues(fn).Inc()
	}
	m.duration.WithLabelValues(fn).Observe(d.Seconds())
	m.billed.WithLabelValues(fn).Observe(billed.Seconds())
	m.gbSeconds.WithLabelValues(fn).Add(billed.Seconds() * float64(memoryMB) / 1024)
}

// forget drops the series of a deleted function.
func (m *metrics) forget(fn string) {
	l := prometheus.Labels{"function": fn}
	m.invocations.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.throttles.DeletePartialMatch(l)
	m.coldStarts.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.billed.DeletePartialMatch(l)
	m.gbSeconds.DeletePartialMatch(l)
}
