// Package health is the health a running server routes by: the checker's
// published probe states overridden by the operator's admin_state, offered
// to the router as a routing.Health. It is where healthcheck meets routing,
// so that neither imports the other; app wires it, and admin reads and
// replaces its overrides.
package health

import (
	"sync/atomic"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/routing"
	"github.com/meridian-dns/meridian/zones"
)

// View is the routing.Health of a running server: probe results from a
// healthcheck.Manager, overridden by the operator's admin_state. Both are
// read through one atomic load each, so the query path takes no lock.
type View struct {
	status    func() *healthcheck.StatusMap
	overrides atomic.Pointer[overrideSet]
	// last is the latest snapshot handed out, reused while neither the
	// status map nor the overrides changed; versions numbers them.
	last     atomic.Pointer[snapshot]
	versions atomic.Uint64

	// OnOverrides, when set before the View is shared, is called after
	// every SetOverrides (to log the regions the overrides moved).
	OnOverrides func()
	// ExplainCheck, when set before the View is shared, says where a
	// checked endpoint's state came from (the fleet's verdict and each
	// observer's view), for explanations; "" when it has nothing to add.
	ExplainCheck func(check.Key) string
}

var (
	_ routing.HealthSource      = (*View)(nil)
	_ routing.EndpointExplainer = (*snapshot)(nil)
	_ routing.UncheckedUp       = (*snapshot)(nil)
	_ routing.Versioned         = (*snapshot)(nil)
)

// overrideSet is a published set of overrides and whether it is empty:
// looking an endpoint up builds its keys, which is not worth doing for
// every endpoint of every query while no override is set.
type overrideSet struct {
	o     *healthcheck.Overrides
	empty bool
	// weights is set when o changes an endpoint's weight.
	weights bool
}

// NewView returns a View reading probe results from status (usually
// Manager.Status); with a nil status every checked endpoint counts as not
// probed yet.
func NewView(status func() *healthcheck.StatusMap) *View {
	return &View{status: status}
}

// SetOverrides publishes a new set of operator overrides (nil for none).
func (h *View) SetOverrides(o *healthcheck.Overrides) {
	h.overrides.Store(&overrideSet{o: o, empty: o.Empty(), weights: len(o.Weights()) > 0})
	if h.OnOverrides != nil {
		h.OnOverrides()
	}
}

// Overrides returns the overrides in force.
func (h *View) Overrides() *healthcheck.Overrides {
	if set := h.overrides.Load(); set != nil {
		return set.o
	}
	return nil
}

// snapshot is the health of every endpoint at one moment: one status map
// and one set of overrides.
type snapshot struct {
	status  *healthcheck.StatusMap
	set     *overrideSet
	explain func(check.Key) string
	// version is the snapshot's number, new for each: a status map and a
	// set of overrides are never changed once published, so one version
	// gives every endpoint one state (routing.Versioned).
	version uint64
}

// Snapshot returns the health at this moment, which one routing decision
// reads throughout. It allocates only when the checker published a new
// status map or the overrides changed since the last snapshot.
func (h *View) Snapshot() routing.Health {
	var st *healthcheck.StatusMap
	if h.status != nil {
		st = h.status()
	}
	set := h.overrides.Load()
	if last := h.last.Load(); last != nil && last.status == st && last.set == set {
		return last
	}
	s := &snapshot{status: st, set: set, explain: h.ExplainCheck, version: h.versions.Add(1)}
	h.last.Store(s)
	return s
}

// Endpoint is the endpoint's state in a snapshot of now.
func (h *View) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	return h.Snapshot().Endpoint(ep)
}

// Endpoint combines, most decisive first: an override of the endpoint, an
// override of its region, then its probe state. An endpoint without a check,
// or not probed yet, counts as up. A runtime weight of the endpoint comes
// with the state.
func (h *snapshot) Endpoint(ep *zones.Endpoint) routing.EndpointState {
	st := routing.EndpointState{Up: true, Load: -1}
	if ep.Checked && h.status != nil {
		if s, ok := h.status.Get(ep.CheckKey); ok {
			st.Up = s.State != healthcheck.StateDown
			st.Latency = s.Latency.Seconds()
			st.Load = s.Load
		}
	}
	set := h.set
	if set == nil || set.empty {
		return st
	}
	o := set.o
	admin, ok, w, reweighted := o.EndpointEntryByKey(ep.Key)
	st.Reweighted, st.Weight = reweighted, w
	if !ok && ep.Region != nil {
		admin, ok = o.RegionByKey(ep.Region.Key)
	}
	if ok {
		switch admin {
		case healthcheck.AdminUp:
			st.Up, st.Drained = true, false
		case healthcheck.AdminDown:
			st.Up = false
		case healthcheck.AdminDrain:
			st.Drained = true
		}
	}
	return st
}

// ExplainEndpoint says where a checked endpoint's state came from, when
// the View has an ExplainCheck.
func (h *snapshot) ExplainEndpoint(ep *zones.Endpoint) string {
	if !ep.Checked || h.explain == nil {
		return ""
	}
	return h.explain(ep.CheckKey)
}

// MinHealthy applies the service's min_healthy to a region of total
// endpoints.
func (h *View) MinHealthy(s *zones.Service, total int) int {
	return s.MinHealthy.Required(total)
}

// Version numbers the snapshot (routing.Versioned).
func (h *snapshot) Version() uint64 { return h.version }

// UncheckedUp reports whether no override is in force, so that an
// endpoint without a check is up, as Endpoint would say
// (routing.UncheckedUp).
func (h *snapshot) UncheckedUp() bool { return h.set == nil || h.set.empty }

// Reweighted reports whether the operator changed an endpoint's weight
// in this snapshot (routing.Reweighter).
func (h *snapshot) Reweighted() bool { return h.set != nil && h.set.weights }

// MinHealthy applies the service's min_healthy to a region of total
// endpoints.
func (h *snapshot) MinHealthy(s *zones.Service, total int) int {
	return s.MinHealthy.Required(total)
}
