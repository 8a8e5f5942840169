package cluster

import (
	"testing"

	"github.com/meridian-dns/meridian/healthcheck"
)

func TestTargetViewText(t *testing.T) {
	obs := func(inst string, s healthcheck.State) ObserverView {
		return ObserverView{Instance: inst, Observation: Observation{State: s}}
	}
	up, down := healthcheck.StateUp, healthcheck.StateDown
	tests := []struct {
		view TargetView
		want string
	}{
		{TargetView{Verdict: down, Own: down, Observers: []ObserverView{obs("ns1", down), obs("ns2", down), obs("ns3", up)}},
			"fleet: down (2 of 3 observers down: ns1 down, ns2 down, ns3 up)"},
		{TargetView{Verdict: up, Own: down, Observers: []ObserverView{obs("ns1", up), obs("ns2", up), obs("ns3", down)}},
			"fleet: up (1 of 3 observers down: ns1 up, ns2 up, ns3 down); this instance's probes say down"},
		{TargetView{Verdict: up, Own: healthcheck.StateUnknown, Observers: []ObserverView{obs("ns2", up)}},
			"fleet: up (0 of 1 observers down: ns2 up)"},
		{TargetView{Verdict: healthcheck.StateUnknown}, "fleet: unknown (no observer has a fresh verdict)"},
	}
	for _, tc := range tests {
		if got := tc.view.Text(); got != tc.want {
			t.Errorf("Text() = %q, want %q", got, tc.want)
		}
	}
}
