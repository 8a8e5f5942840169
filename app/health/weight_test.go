package health

import (
	"testing"

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
