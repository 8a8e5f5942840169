package health

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

const testZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
checks:
  web: { type: tcp, port: 80 }
regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [53.35, -6.26] }
services:
  www:
    check: web
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: us-east, address: 192.0.2.11 }
      - { region: eu-west, address: 198.51.100.10 }
`

// loadZone loads body as example.com's zone file.
func loadZone(t testing.TB, body string) *zones.Zone {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Zone("example.com.")
}

// www loads testZone and returns its service www.
func www(t testing.TB) *zones.Service {
	t.Helper()
	s := loadZone(t, testZone).Service("www.example.com.")
	if s == nil {
		t.Fatal("no service www")
	}
	return s
}

// drainAndDown returns two override sets for testZone: 192.0.2.10 of www
// drained, and region us-east down.
func drainAndDown(t *testing.T) (drain, down *healthcheck.Overrides) {
	t.Helper()
	drain, err := healthcheck.NewOverrides().WithEndpoint("www.example.com", "192.0.2.10", healthcheck.AdminDrain)
	if err != nil {
		t.Fatal(err)
	}
	down, err = healthcheck.NewOverrides().WithRegion("example.com", "us-east", healthcheck.AdminDown)
	if err != nil {
		t.Fatal(err)
	}
	return drain, down
}

func TestViewOverrides(t *testing.T) {
	s := www(t)
	ep := s.Endpoints[0] // 192.0.2.10 in us-east
	other := s.Endpoints[2]
	h := NewView(nil)
	drain, down := drainAndDown(t)
	up := routing.EndpointState{Up: true, Load: -1}
	for _, tc := range []struct {
		name      string
		overrides *healthcheck.Overrides
		ep, other routing.EndpointState
	}{
		{"none", nil, up, up},
		{"empty", healthcheck.NewOverrides(), up, up},
		{"endpoint drained", drain, routing.EndpointState{Up: true, Drained: true, Load: -1}, up},
		{"region down", down, routing.EndpointState{Load: -1}, up},
		{"cleared", drain.WithoutEndpoint("www.example.com.", "192.0.2.10"), up, up},
	} {
		h.SetOverrides(tc.overrides)
		if h.Overrides() != tc.overrides {
			t.Errorf("%s: Overrides() is not the set published", tc.name)
		}
		if got := h.Endpoint(ep); got != tc.ep {
			t.Errorf("%s: %s is %+v, want %+v", tc.name, ep.Key, got, tc.ep)
		}
		if got := h.Endpoint(other); got != tc.other {
			t.Errorf("%s: %s is %+v, want %+v", tc.name, other.Key, got, tc.other)
		}
	}
}

func TestViewCallsOnOverrides(t *testing.T) {
	h := NewView(nil)
	calls := 0
	h.OnOverrides = func() { calls++ }
	h.SetOverrides(nil)
	if calls != 1 {
		t.Errorf("OnOverrides called %d times, want 1", calls)
	}
}

// TestViewDecideAllocs holds a routing decision asking a View, as a
// server with an admin_state file that sets nothing has, to no
// allocation.
func TestViewDecideAllocs(t *testing.T) {
	s := www(t)
	h := NewView(func() *healthcheck.StatusMap { return nil })
	h.SetOverrides(healthcheck.NewOverrides())
	r := routing.New(nil, h)
	c := routing.Client{SourceBits: -1}
	r.Decide(s, dns.TypeA, c, false)
	if got := testing.AllocsPerRun(200, func() { r.Decide(s, dns.TypeA, c, false) }); got != 0 {
		t.Errorf("%.1f allocations per decision, want 0", got)
	}
	// With overrides in force, each endpoint's are found by its key, with
	// no allocation either.
	o, err := healthcheck.NewOverrides().WithEndpoint("www.example.com.", "198.51.100.10", healthcheck.AdminDrain)
	if err != nil {
		t.Fatal(err)
	}
	if o, err = o.WithWeight("www.example.com.", "192.0.2.11", 3); err != nil {
		t.Fatal(err)
	}
	h.SetOverrides(o)
	r.Decide(s, dns.TypeA, c, false)
	if got := testing.AllocsPerRun(200, func() { r.Decide(s, dns.TypeA, c, false) }); got != 0 {
		t.Errorf("with overrides in force, %.1f allocations per decision, want 0", got)
	}
}

// TestOneDecisionOneHealthMap: a decision reads the health of all its
// endpoints from one snapshot. The checker's status is read once per
// decision, never once per endpoint, so a status map published in the
// middle of a decision cannot give it half old and half new health; the
// next decision sees the new map.
func TestOneDecisionOneHealthMap(t *testing.T) {
	s := www(t)
	reads := 0
	h := NewView(func() *healthcheck.StatusMap {
		reads++
		return nil
	})
	r := routing.New(nil, h)
	c := routing.Client{SourceBits: -1}
	for i := range 3 {
		before := reads
		r.Decide(s, dns.TypeA, c, false)
		if got := reads - before; got != 1 {
			t.Errorf("decision %d read the status map %d times, want once", i, got)
		}
	}
	// With every region down the decision walks the whole failover order:
	// still one read.
	o, err := healthcheck.NewOverrides().WithRegion("example.com.", "us-east", healthcheck.AdminDown)
	if err == nil {
		o, err = o.WithRegion("example.com.", "eu-west", healthcheck.AdminDown)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.SetOverrides(o)
	before := reads
	if d := r.Decide(s, dns.TypeA, c, true); !d.AllDown {
		t.Fatalf("every region forced down, decision %+v", d)
	}
	if got := reads - before; got != 1 {
		t.Errorf("a failover decision read the status map %d times, want once", got)
	}
}

// TestViewExplainsChecks: a View with ExplainCheck puts what it says about
// each checked endpoint into explanations, through routing's optional
// EndpointExplainer.
func TestViewExplainsChecks(t *testing.T) {
	s := www(t)
	v := NewView(nil)
	v.ExplainCheck = func(k check.Key) string { return "fleet: up (" + k.String() + ")" }
	r := routing.New(nil, v)
	c, err := routing.ParseClient("192.0.2.99")
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decide(s, dns.TypeA, c, true)
	text := strings.Join(routing.Explain(s, dns.TypeA, c, d), "\n")
	for _, want := range []string{"endpoint 192.0.2.10 (us-east): fleet: up (tcp://192.0.2.10:80)", "endpoint 198.51.100.10 (eu-west): fleet: up (tcp://198.51.100.10:80)"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	if d := routing.New(nil, NewView(nil)).Decide(s, dns.TypeA, c, true); len(d.HealthNotes) != 0 {
		t.Errorf("a View without ExplainCheck adds notes: %q", d.HealthNotes)
	}
}

// TestUncheckedUpAgreesWithEndpoint: whenever a snapshot says it has no
// say over unchecked endpoints, Endpoint says each of them is up as AllUp
// does; with an override in force it says so no longer, and a decision
// obeys the override of an unchecked endpoint.
func TestUncheckedUpAgreesWithEndpoint(t *testing.T) {
	s := loadZone(t, strings.Replace(testZone, "    check: web\n", "    select: all\n", 1)).Service("www.example.com.")
	drain, down := drainAndDown(t)
	weight, err := healthcheck.NewOverrides().WithWeight("www.example.com", "192.0.2.11", 0)
	if err != nil {
		t.Fatal(err)
	}
	allUp := routing.AllUp{}.Endpoint(nil)
	h := NewView(func() *healthcheck.StatusMap { return nil })
	r := routing.New(nil, h)
	c := routing.Client{SourceBits: -1}
	for _, tc := range []struct {
		name      string
		overrides *healthcheck.Overrides
		unchecked bool
		answer    []string
	}{
		{"none", nil, true, []string{"192.0.2.10", "192.0.2.11"}},
		{"empty", healthcheck.NewOverrides(), true, []string{"192.0.2.10", "192.0.2.11"}},
		{"endpoint drained", drain, false, []string{"192.0.2.11"}},
		{"region down", down, false, []string{"198.51.100.10"}},
		{"weight 0", weight, false, []string{"192.0.2.10"}},
	} {
		h.SetOverrides(tc.overrides)
		snap := h.Snapshot()
		if got := snap.(routing.UncheckedUp).UncheckedUp(); got != tc.unchecked {
			t.Errorf("%s: UncheckedUp %v, want %v", tc.name, got, tc.unchecked)
		}
		for _, ep := range s.Endpoints {
			if tc.unchecked && snap.Endpoint(ep) != allUp {
				t.Errorf("%s: UncheckedUp, but %s is %+v", tc.name, ep.Key, snap.Endpoint(ep))
			}
		}
		d := r.Decide(s, dns.TypeA, c, false)
		var got []string
		for _, ep := range d.Endpoints {
			got = append(got, ep.Address.String())
		}
		if strings.Join(got, " ") != strings.Join(tc.answer, " ") {
			t.Errorf("%s: answered %v, want %v", tc.name, got, tc.answer)
		}
	}
}

// TestSnapshotVersions: a snapshot's version holds while neither the
// status map nor the overrides change, and changes when either does, so
// the router's remembered decisions are dropped with the health they
// were made from.
func TestSnapshotVersions(t *testing.T) {
	var status atomic.Pointer[healthcheck.StatusMap]
	h := NewView(status.Load)
	version := func() uint64 { return h.Snapshot().(routing.Versioned).Version() }
	v1 := version()
	if v := version(); v != v1 {
		t.Errorf("version moved from %d to %d with nothing changed", v1, v)
	}
	h.SetOverrides(healthcheck.NewOverrides())
	v2 := version()
	if v2 == v1 {
		t.Error("new overrides kept the version")
	}
	status.Store(healthcheck.NewStatusMap(nil))
	if v3 := version(); v3 == v2 || v3 == v1 {
		t.Errorf("a new status map kept a version (%d after %d, %d)", v3, v1, v2)
	}
}
