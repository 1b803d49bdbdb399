package service

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tune-dev/tune/trials"
)

// metrics counts what the broker does for Prometheus; it is the broker's
// Metrics.
type metrics struct {
	asks    prometheus.Counter
	leases  prometheus.Counter
	tells   *prometheus.CounterVec
	reaped  *prometheus.CounterVec
	suggest prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, store trials.Store) *metrics {
	m := &metrics{
		asks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tune_asks_total", Help: "Trials handed out through ask (rate() gives asks per second).",
		}),
		leases: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tune_leases_granted_total", Help: "Trials handed out to runners through leases.",
		}),
		tells: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tune_tells_total", Help: "Trials finished, by final state.",
		}, []string{"state"}),
		reaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tune_leases_expired_total", Help: "Trials whose lease expired, by what became of them.",
		}, []string{"outcome"}),
		suggest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tune_suggest_seconds",
			Help:    "Time the sampler took to propose a new trial's params.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	reg.MustRegister(m.asks, m.leases, m.tells, m.reaped, m.suggest, &trialsCollector{store: store})
	return m
}

func (m *metrics) Asked()                       { m.asks.Inc() }
func (m *metrics) Leased()                      { m.leases.Inc() }
func (m *metrics) Told(state trials.TrialState) { m.tells.WithLabelValues(string(state)).Inc() }
func (m *metrics) Suggested(d time.Duration)    { m.suggest.Observe(d.Seconds()) }

func (m *metrics) Reaped(requeued, failed int) {
	m.reaped.WithLabelValues("requeued").Add(float64(requeued))
	m.reaped.WithLabelValues("failed").Add(float64(failed))
}

// trialsCollector reports trials by state at scrape time, summed over
// studies, so the gauge is right whichever replica is scraped.
type trialsCollector struct{ store trials.Store }

var trialsDesc = prometheus.NewDesc("tune_trials", "Trials by state, over all studies.", []string{"state"}, nil)
var studiesDesc = prometheus.NewDesc("tune_studies", "Studies by state.", []string{"state"}, nil)

func (c *trialsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- trialsDesc
	ch <- studiesDesc
}

func (c *trialsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	byState := map[trials.TrialState]int{}
	studies := map[trials.StudyState]int{trials.StudyRunning: 0, trials.StudyPaused: 0, trials.StudyDone: 0}
	f := trials.StudyFilter{Limit: trials.MaxPageSize}
	for {
		sums, more, err := c.store.ListStudies(ctx, f)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(trialsDesc, err)
			return
		}
		for _, s := range sums {
			studies[s.State]++
			for st, n := range s.Counts {
				byState[st] += n
			}
		}
		if !more || len(sums) == 0 {
			break
		}
		f.AfterID = sums[len(sums)-1].ID
	}
	for _, st := range trials.TrialStates {
		ch <- prometheus.MustNewConstMetric(trialsDesc, prometheus.GaugeValue, float64(byState[st]), string(st))
	}
	for st, n := range studies {
		ch <- prometheus.MustNewConstMetric(studiesDesc, prometheus.GaugeValue, float64(n), string(st))
	}
}
