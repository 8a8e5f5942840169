package metrics_test

import (
	"bytes"
	"errors"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"

	"github.com/meridian-dns/meridian/metrics"
)

// TestNewRegisters checks that New registers everything on the registry it
// is given, and only there: two instances on fresh registries do not
// conflict, while a second New on the same registry does.
func TestNewRegisters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "1.2.3")
	other := prometheus.NewRegistry()
	metrics.New(other, "1.2.3")

	touch(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, name := range []string{
		"meridian_dns_queries_total", "meridian_dns_responses_total", "meridian_dns_request_duration_seconds",
		"meridian_dns_truncated_responses_total", "meridian_dns_ecs_queries_total", "meridian_dns_panics_total",
		"meridian_geo_answers_total", "meridian_geo_failovers_total", "meridian_geo_all_down_answers_total",
		"meridian_health_transitions_total", "meridian_config_reloads_total",
		"meridian_config_last_reload_success_timestamp_seconds", "meridian_rrl_limited_responses_total", "meridian_build_info",
		"meridian_tcp_open_connections", "meridian_tcp_connections_closed_total", "go_goroutines",
	} {
		if !got[name] {
			t.Errorf("%s is not registered", name)
		}
	}

	func() {
		defer func() {
			r := recover()
			var are prometheus.AlreadyRegisteredError
			if err, ok := r.(error); !ok || !errors.As(err, &are) {
				t.Errorf("a second New on the same registry: recovered %v, want an AlreadyRegisteredError panic", r)
			}
		}()
		metrics.New(reg, "1.2.3")
	}()

	compare(t, reg, `
# HELP meridian_build_info Meridian's version and the Go version it was built with; always 1.
# TYPE meridian_build_info gauge
meridian_build_info{goversion="`+runtime.Version()+`",version="1.2.3"} 1
`, "meridian_build_info")
}

// touch gives every metric vector a series.
func touch(m *metrics.Metrics) {
	m.Queries.WithLabelValues("example.com.", "A", "udp").Inc()
	m.Responses.WithLabelValues("example.com.", "NOERROR").Inc()
	m.Duration.Observe(0.00004)
	m.Truncated.Inc()
	m.ECSQueries.Inc()
	m.Panics.Add(0)
	m.GeoAnswers.WithLabelValues("example.com.", "www.example.com.", "eu-west").Inc()
	m.Failovers.WithLabelValues("www.example.com.", "us-east", "eu-west").Inc()
	m.ServeAll.WithLabelValues("www.example.com.", "serve_all").Inc()
	m.Transitions.WithLabelValues("http 192.0.2.10:80/health", "down").Inc()
	m.Reloads.WithLabelValues("success").Inc()
	m.LastReload.SetToCurrentTime()
	m.RRL.WithLabelValues("slipped").Inc()
	m.TCPConnections.Inc()
	m.TCPClosed.WithLabelValues("idle").Inc()
}

func TestQType(t *testing.T) {
	for qt, want := range map[uint16]string{
		dns.TypeA: "A", dns.TypeAAAA: "AAAA", dns.TypeMX: "MX", dns.TypeHTTPS: "HTTPS", dns.TypeANY: "ANY",
		dns.TypeNULL: "other", dns.TypeOPT: "other", dns.TypeHINFO: "other", 0: "other", 65280: "other", 65535: "other",
	} {
		if got := metrics.QType(qt); got != want {
			t.Errorf("QType(%d) = %q, want %q", qt, got, want)
		}
	}
	// Whatever a client sends, the label takes few values.
	seen := map[string]bool{}
	for qt := range 1 << 16 {
		seen[metrics.QType(uint16(qt))] = true
	}
	if len(seen) > 25 {
		t.Errorf("QType takes %d values over all query types, want a small fixed set", len(seen))
	}
	if !seen["other"] {
		t.Error("no type maps to other")
	}
}

func TestRcode(t *testing.T) {
	for rc, want := range map[int]string{
		dns.RcodeSuccess: "NOERROR", dns.RcodeNameError: "NXDOMAIN", dns.RcodeRefused: "REFUSED",
		dns.RcodeNotImplemented: "NOTIMP", dns.RcodeBadVers: "BADVERS", 3999: "3999",
	} {
		if got := metrics.Rcode(rc); got != want {
			t.Errorf("Rcode(%d) = %q, want %q", rc, got, want)
		}
	}
}

// TestStateCollector checks the gauges read from the state source at
// scrape time.
func TestStateCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	names := []string{"meridian_health_endpoint_up", "meridian_health_probe_duration_seconds",
		"meridian_health_region_healthy_endpoints", "meridian_zone_serial", "meridian_geoip_build_timestamp_seconds",
		"meridian_geoip_lookup_errors_total"}

	// Without a source the collector emits nothing.
	compare(t, reg, "", names...)

	calls := 0
	m.SetStateSource(func() metrics.State {
		calls++
		return metrics.State{
			Endpoints: []metrics.EndpointSample{
				{Service: "www.example.com.", Region: "us-east", Endpoint: "192.0.2.10", Up: true, Latency: 0.0125},
				{Service: "www.example.com.", Region: "us-east", Endpoint: "192.0.2.11", Up: false},
			},
			Regions: []metrics.RegionSample{{Service: "www.example.com.", Region: "us-east", Healthy: 1}},
			Zones:   []metrics.ZoneSample{{Zone: "example.com.", Serial: 2024010101}},
			GeoIP:   []metrics.GeoIPSample{{Database: "city", BuildTime: time.Unix(1700000000, 0), LookupErrors: 3}},
		}
	})
	want := `
# HELP meridian_health_endpoint_up 1 when the endpoint is up (health check passing and not forced down), else 0.
# TYPE meridian_health_endpoint_up gauge
meridian_health_endpoint_up{endpoint="192.0.2.10",region="us-east",service="www.example.com."} 1
meridian_health_endpoint_up{endpoint="192.0.2.11",region="us-east",service="www.example.com."} 0
# HELP meridian_health_probe_duration_seconds Smoothed (EWMA) duration of the endpoint's successful probes.
# TYPE meridian_health_probe_duration_seconds gauge
meridian_health_probe_duration_seconds{endpoint="192.0.2.10",region="us-east",service="www.example.com."} 0.0125
# HELP meridian_health_region_healthy_endpoints Healthy endpoints of a service in a region.
# TYPE meridian_health_region_healthy_endpoints gauge
meridian_health_region_healthy_endpoints{region="us-east",service="www.example.com."} 1
# HELP meridian_zone_serial SOA serial being served, by zone.
# TYPE meridian_zone_serial gauge
meridian_zone_serial{zone="example.com."} 2.024010101e+09
# HELP meridian_geoip_build_timestamp_seconds Build time of each loaded GeoIP database.
# TYPE meridian_geoip_build_timestamp_seconds gauge
meridian_geoip_build_timestamp_seconds{database="city"} 1.7e+09
# HELP meridian_geoip_lookup_errors_total GeoIP lookups whose record the database could not read (treated as unknown), by database.
# TYPE meridian_geoip_lookup_errors_total counter
meridian_geoip_lookup_errors_total{database="city"} 3
`
	compare(t, reg, want, names...)
	// The state is read at every scrape, not cached.
	before := calls
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if calls != before+1 {
		t.Errorf("a scrape read the state %d times, want once", calls-before)
	}
}

// compare checks that the named metric families of reg are exposed as
// want (in the text format, families in the order given).
func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, name := range names {
		for _, mf := range mfs {
			if mf.GetName() == name {
				if err := enc.Encode(mf); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if got, want := strings.TrimSpace(buf.String()), strings.TrimSpace(want); got != want {
		t.Errorf("exposition of %v\n got:\n%s\nwant:\n%s", names, got, want)
	}
}

// exposition returns the registry's metrics in the text format, with every
// metric given a series.
func exposition(t *testing.T) []byte {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	touch(m)
	m.SetStateSource(func() metrics.State {
		return metrics.State{
			Endpoints: []metrics.EndpointSample{{Service: "www.example.com.", Region: "us-east", Endpoint: "192.0.2.10", Up: true, Latency: 0.01}},
			Regions:   []metrics.RegionSample{{Service: "www.example.com.", Region: "us-east", Healthy: 1}},
			Zones:     []metrics.ZoneSample{{Zone: "example.com.", Serial: 1}},
			GeoIP:     []metrics.GeoIPSample{{Database: "city", BuildTime: time.Unix(1700000000, 0)}},
			Cluster: &metrics.ClusterSample{Connected: true, Instances: 3, Targets: 10, Observing: 4,
				Disagreements: 1, DisagreementsTotal: 2, Malformed: 1, Writes: 12},
		}
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestLint runs client_golang's linter (the one promtool uses) on
// Meridian's own metrics.
func TestLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	touch(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "meridian_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// TestPromtool checks the exposition with `promtool check metrics`, as
// Prometheus operators would.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
