package health

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/routing"
)

// TestViewWeights carries an operator's runtime weight into the endpoint's
// state, beside a drain, and tells routing that weights are changed only
// while one is.
func TestViewWeights(t *testing.T) {
	s := www(t)
	ep, other := s.Endpoints[0], s.Endpoints[1]
	h := NewView(nil)
	o, err := healthcheck.NewOverrides().WithWeight("www.example.com.", "192.0.2.10", 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err = o.WithEndpoint("www.example.com.", "192.0.2.10", healthcheck.AdminDrain)
	if err != nil {
		t.Fatal(err)
	}
	h.SetOverrides(o)
	want := routing.EndpointState{Up: true, Drained: true, Load: -1, Reweighted: true, Weight: 0}
	if got := h.Endpoint(ep); got != want {
		t.Errorf("reweighted, drained endpoint: %+v, want %+v", got, want)
	}
	if got := h.Endpoint(other); got.Reweighted {
		t.Errorf("other endpoint: %+v", got)
	}
	if rw, ok := h.Snapshot().(routing.Reweighter); !ok || !rw.Reweighted() {
		t.Error("a snapshot with a weight does not say so")
	}
	h.SetOverrides(o.WithoutWeight("www.example.com.", "192.0.2.10"))
	if rw, ok := h.Snapshot().(routing.Reweighter); !ok || rw.Reweighted() {
		t.Error("a snapshot without weights says it has one")
	}
	if got := h.Endpoint(ep); got.Reweighted || !got.Drained {
		t.Errorf("drained endpoint without a weight: %+v", got)
	}
}

const cnameZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
regions:
  us-east: { location: [39.04, -77.49] }
services:
  app:
    endpoints:
      - { region: us-east, cname: a.cdn.example.net. }
      - { region: us-east, cname: b.cdn.example.net. }
`

// TestCNAMEEndpointOverrides: an endpoint that is a CNAME is drained and
// weighted by its target, written with or without the final dot, and
// routing obeys: the drained target is never the answer, and a weight of
// zero takes the other out of the draw.
func TestCNAMEEndpointOverrides(t *testing.T) {
	s := loadZone(t, cnameZone).Service("app.example.com.")
	if s == nil {
		t.Fatal("no service app")
	}
	answers := func(h *View) map[string]int {
		r := routing.New(nil, h)
		seen := map[string]int{}
		for range 200 {
			d := r.Decide(s, dns.TypeA, routing.Client{SourceBits: -1}, false)
			if len(d.Endpoints) != 1 {
				t.Fatalf("%d endpoints in an answer, want one CNAME", len(d.Endpoints))
			}
			seen[d.Endpoints[0].CNAME]++
		}
		return seen
	}
	h := NewView(nil)
	if seen := answers(h); seen["a.cdn.example.net."] == 0 || seen["b.cdn.example.net."] == 0 {
		t.Fatalf("without overrides the answers were %v, want both targets", seen)
	}

	o, err := healthcheck.NewOverrides().WithEndpoint("app.example.com", "A.cdn.example.net", healthcheck.AdminDrain)
	if err != nil {
		t.Fatalf("draining a CNAME endpoint: %v", err)
	}
	h.SetOverrides(o)
	if seen := answers(h); seen["a.cdn.example.net."] != 0 || seen["b.cdn.example.net."] != 200 {
		t.Errorf("with a.cdn drained the answers were %v, want b.cdn only", seen)
	}

	o, err = healthcheck.NewOverrides().WithWeight("app.example.com.", "b.cdn.example.net.", 0)
	if err != nil {
		t.Fatalf("weighting a CNAME endpoint: %v", err)
	}
	h.SetOverrides(o)
	if seen := answers(h); seen["a.cdn.example.net."] != 200 {
		t.Errorf("with b.cdn weighted 0 the answers were %v, want a.cdn only", seen)
	}
}

// TestKeysMatchOverrides: the keys the zones give endpoints and regions,
// by which the DNS path finds their overrides, are the keys the overrides
// file and API derive from the names an operator writes.
func TestKeysMatchOverrides(t *testing.T) {
	for _, zone := range []string{testZone, cnameZone} {
		z := loadZone(t, zone)
		checked := 0
		for _, svc := range z.Services() {
			for _, ep := range svc.Endpoints {
				checked++
				if k, err := healthcheck.EndpointKey(ep.Service, ep.Ident); err != nil || k != ep.Key {
					t.Errorf("endpoint %s: overrides key %q (%v), zones key %q", ep.Ident, k, err, ep.Key)
				}
				if k, err := healthcheck.RegionKey(z.Origin, ep.Region.Name); err != nil || k != ep.Region.Key {
					t.Errorf("region %s: overrides key %q (%v), zones key %q", ep.Region.Name, k, err, ep.Region.Key)
				}
			}
		}
		if checked < 2 {
			t.Errorf("%d endpoints checked", checked)
		}
	}
}
