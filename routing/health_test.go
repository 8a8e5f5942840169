package routing

import (
	"testing"

	"github.com/meridian-dns/meridian/healthcheck"
)

func TestCheckedOverrides(t *testing.T) {
	z := testZone(t)
	s := service(t, z, "www")
	ep := s.Endpoints[0] // 192.0.2.10 in us-east
	other := s.Endpoints[3]
	h := NewChecked(nil)
	drain, err := healthcheck.NewOverrides().WithEndpoint("www.example.com", "192.0.2.10", healthcheck.AdminDrain)
	if err != nil {
		t.Fatal(err)
	}
	down, err := healthcheck.NewOverrides().WithRegion("example.com", "us-east", healthcheck.AdminDown)
	if err != nil {
		t.Fatal(err)
	}
	up := EndpointState{Up: true, Load: -1}
	for _, tc := range []struct {
		name      string
		overrides *healthcheck.Overrides
		ep, other EndpointState
	}{
		{"none", nil, up, up},
		{"empty", healthcheck.NewOverrides(), up, up},
		{"endpoint drained", drain, EndpointState{Up: true, Drained: true, Load: -1}, up},
		{"region down", down, EndpointState{Load: -1}, up},
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
