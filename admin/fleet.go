package admin

import (
	"time"

	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// Fleet is this instance's membership of a fleet, as the admin interface
// reads it; *cluster.Member implements it. Both methods are safe for
// concurrent use and never wait for etcd.
type Fleet interface {
	// State is the member's standing in the fleet now.
	State() cluster.State
	// Target is how the fleet sees one check target; false when this
	// instance does not check it.
	Target(k check.Key) (cluster.TargetView, bool)
}

// ownProbesOnly is what /readyz and the status page say while the fleet's
// observations do not count.
const ownProbesOnly = "etcd unreachable: deciding from this instance's own probes"

// ClusterStatus is the fleet section of the status document.
type ClusterStatus struct {
	Instance string `json:"instance"`
	// Connected is an etcd session up; Fresh that the other instances'
	// observations count (etcd answered within the lease TTL).
	Connected bool `json:"connected"`
	Fresh     bool `json:"fresh"`
	// Detail says in one line how this instance stands.
	Detail      string     `json:"detail"`
	Instances   []string   `json:"instances"`
	LeaseTTL    float64    `json:"lease_ttl_seconds"`
	LastContact *time.Time `json:"last_contact,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	Targets     int        `json:"targets"`
	Observing   int        `json:"observing"`
	// Disagreements are the targets whose fleet verdict differs from this
	// instance's own probes now.
	Disagreements int    `json:"disagreements"`
	Writes        uint64 `json:"etcd_writes"`
}

// FleetView is how the fleet sees one checked endpoint.
type FleetView struct {
	// Verdict is the fleet's state, what routing uses; Own this
	// instance's probes' (unknown when it does not probe the target).
	Verdict   string         `json:"verdict"`
	Own       string         `json:"own"`
	Observers []ObserverView `json:"observers"`
	// Assigned are the live instances that should probe the target.
	Assigned []string `json:"assigned,omitempty"`
	// Text is the line explanations show.
	Text string `json:"text"`
}

// ObserverView is one instance's fresh observation of a target.
type ObserverView struct {
	Instance string     `json:"instance"`
	State    string     `json:"state"`
	Since    *time.Time `json:"since,omitempty"`
	Error    string     `json:"error,omitempty"`
	Self     bool       `json:"self,omitempty"`
}

// clusterStatus is the fleet section from a member's state.
func clusterStatus(s cluster.State) *ClusterStatus {
	cs := &ClusterStatus{Instance: s.Instance, Connected: s.Connected, Fresh: s.Fresh, Detail: s.Detail(),
		Instances: s.Instances, LeaseTTL: s.LeaseTTL.Seconds(), LastError: s.LastError,
		Targets: s.Targets, Observing: s.Observing, Disagreements: s.Disagreements, Writes: s.Writes}
	if !s.Fresh {
		cs.Detail = ownProbesOnly + "; " + cs.Detail
	}
	if !s.LastContact.IsZero() {
		t := s.LastContact.UTC()
		cs.LastContact = &t
	}
	if cs.Instances == nil {
		cs.Instances = []string{}
	}
	return cs
}

// fleetView is the fleet's view of the target of a checked endpoint, nil
// when there is no fleet or it does not know the target.
func fleetView(f Fleet, k check.Key) *FleetView {
	if f == nil {
		return nil
	}
	v, ok := f.Target(k)
	if !ok {
		return nil
	}
	fv := &FleetView{Verdict: v.Verdict.String(), Own: v.Own.String(), Observers: []ObserverView{}, Assigned: v.Assigned, Text: v.Text()}
	for _, o := range v.Observers {
		ov := ObserverView{Instance: o.Instance, State: o.State.String(), Self: o.Self}
		if o.State == healthcheck.StateDown {
			ov.Error = o.Error
		}
		if !o.Since.IsZero() {
			t := o.Since.UTC()
			ov.Since = &t
		}
		fv.Observers = append(fv.Observers, ov)
	}
	return fv
}

// readyDetail is what /readyz says about the fleet, "" without one. It
// never makes the instance unready: the DNS path does not wait for etcd.
func readyDetail(f Fleet) string {
	if f == nil {
		return ""
	}
	s := f.State()
	if !s.Fresh {
		return ownProbesOnly + "; " + s.Detail()
	}
	return s.Detail()
}
