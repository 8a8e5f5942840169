// Package metrics defines Meridian's Prometheus metrics. Every metric is
// registered on a registry the caller injects, labels are bounded by the
// configuration (zones, services, regions, endpoints) or by small fixed sets
// (qtype, rcode, transport), and nothing is labelled per query name or per
// client.
package metrics

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every Meridian metric.
type Metrics struct {
	Queries    *prometheus.CounterVec
	Responses  *prometheus.CounterVec
	Duration   *Histogram
	Truncated  prometheus.Counter
	ECSQueries prometheus.Counter
	// FastAnswers counts queries answered from the fast path's answer cache.
	FastAnswers prometheus.Counter
	Panics      prometheus.Counter
	GeoAnswers  *prometheus.CounterVec
	Failovers   *prometheus.CounterVec
	ServeAll    *prometheus.CounterVec
	Transitions *prometheus.CounterVec
	Reloads     *prometheus.CounterVec
	LastReload  prometheus.Gauge
	RRL         *prometheus.CounterVec
	// TCPConnections is the number of open DNS-over-TCP connections.
	TCPConnections prometheus.Gauge
	// TCPClosed counts DNS-over-TCP connections closed or refused, by
	// reason.
	TCPClosed *prometheus.CounterVec

	// rrlDropped and rrlSlipped are RRL's two series, looked up on first
	// use: a flood of limited responses costs no label lookups.
	rrlDropped, rrlSlipped atomic.Pointer[prometheus.Counter]

	state stateCollector
}

// RRLDropped counts a response that rate limiting dropped.
func (m *Metrics) RRLDropped() prometheus.Counter { return series(&m.rrlDropped, m.RRL, "dropped") }

// RRLSlipped counts a response that rate limiting sent truncated.
func (m *Metrics) RRLSlipped() prometheus.Counter { return series(&m.rrlSlipped, m.RRL, "slipped") }

// series returns the series of vec with one label value, kept in p after
// its first lookup (which is when it is exported).
func series(p *atomic.Pointer[prometheus.Counter], vec *prometheus.CounterVec, value string) prometheus.Counter {
	if c := p.Load(); c != nil {
		return *c
	}
	c := vec.WithLabelValues(value)
	p.Store(&c)
	return c
}

// DurationBuckets resolve sub-millisecond answers: most are in tens of
// microseconds.
var DurationBuckets = []float64{
	0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
}

// New creates the metrics and registers them, with the Go runtime, process
// and build-info collectors, on reg.
func New(reg prometheus.Registerer, version string) *Metrics {
	m := &Metrics{
		Queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_dns_queries_total", Help: "DNS queries received, by zone, query type and transport.",
		}, []string{"zone", "qtype", "transport"}),
		Responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_dns_responses_total", Help: "DNS responses sent, by zone and response code.",
		}, []string{"zone", "rcode"}),
		Duration: NewHistogram("meridian_dns_request_duration_seconds",
			"Time to answer one query: from its arrival to its reply, packed (TCP) or handed to the kernel with its batch (UDP).",
			DurationBuckets),
		Truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_truncated_responses_total", Help: "UDP responses sent with TC=1.",
		}),
		FastAnswers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_fast_path_answers_total", Help: "Queries answered from the fast path's answer cache (the rest took the full path).",
		}),
		ECSQueries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_ecs_queries_total", Help: "Queries carrying an EDNS Client Subnet option.",
		}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meridian_dns_panics_total", Help: "Queries that hit a bug and were answered SERVFAIL.",
		}),
		GeoAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_geo_answers_total", Help: "Service answers, by zone, service and the region that answered.",
		}, []string{"zone", "service", "region"}),
		Failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_geo_failovers_total", Help: "Service answers served by a region other than the first choice.",
		}, []string{"service", "from", "to"}),
		ServeAll: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_geo_all_down_answers_total", Help: "Service answers given while every region was down (all_down mode).",
		}, []string{"service", "mode"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_health_transitions_total", Help: "Health state changes of check targets, by new state.",
		}, []string{"target", "to"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_config_reloads_total", Help: "Zone reload attempts, by result (success, failure).",
		}, []string{"result"}),
		LastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_config_last_reload_success_timestamp_seconds", Help: "When the zones were last loaded successfully.",
		}),
		RRL: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_rrl_limited_responses_total", Help: "UDP responses limited by response rate limiting, by action (dropped, slipped).",
		}, []string{"action"}),
		TCPConnections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meridian_tcp_open_connections", Help: "Open DNS-over-TCP connections.",
		}),
		TCPClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meridian_tcp_connections_closed_total", Help: "DNS-over-TCP connections closed, by reason: client (closed by the client), idle, stalled (not reading its replies), reclaimed (for a new connection at max_connections), limit and client_limit (refused at accept), malformed, shutdown.",
		}, []string{"reason"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meridian_build_info", Help: "Meridian's version and the Go version it was built with; always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.Queries, m.Responses, m.Duration, m.Truncated, m.ECSQueries, m.FastAnswers, m.Panics,
		m.GeoAnswers, m.Failovers, m.ServeAll, m.Transitions, m.Reloads, m.LastReload, m.RRL, m.TCPConnections, m.TCPClosed, build, &m.state,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// QType returns the label for a query type: its name for the common types,
// "other" for the rest, so a client cannot create label values at will.
func QType(t uint16) string {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeNS, dns.TypeSOA, dns.TypeTXT,
		dns.TypeSRV, dns.TypePTR, dns.TypeCAA, dns.TypeDS, dns.TypeDNSKEY, dns.TypeHTTPS, dns.TypeSVCB,
		dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeNAPTR, dns.TypeSPF:
		return dns.TypeToString[t]
	}
	return "other"
}

// Rcode returns the label for a response code.
func Rcode(rcode int) string {
	if rcode == dns.RcodeBadVers {
		return "BADVERS" // miekg/dns names 16 after TSIG's BADSIG; Meridian has no TSIG
	}
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return strconv.Itoa(rcode)
}

// Since returns seconds since start, for the duration histogram.
func Since(start time.Time) float64 { return time.Since(start).Seconds() }
