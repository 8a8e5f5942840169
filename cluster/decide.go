package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// decideLoop decides whenever something may have changed, until ctx ends.
func (m *Member) decideLoop(ctx context.Context) {
	tick := time.NewTicker(decideEvery)
	defer tick.Stop()
	for {
		m.decide()
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-tick.C:
		}
	}
}

// decide recomputes, when its inputs changed, which targets this member
// probes, the observations it publishes and the fleet's verdicts, and
// publishes the verdicts in a new status map.
func (m *Member) decide() {
	defer m.decisions.Add(1)
	own := m.opts.Own()
	now := time.Now()
	m.mu.Lock()
	fresh := m.freshLocked(now)
	ver := m.version
	live := m.liveLocked(fresh)
	m.mu.Unlock()
	if m.decided && own == m.lastOwn && ver == m.lastVer && fresh == m.lastFresh {
		return
	}
	m.decided, m.lastOwn, m.lastVer, m.lastFresh = true, own, ver, fresh

	if m.setFilter(fresh, live) {
		// The checker published a new own map; decide on that one.
		own = m.opts.Own()
		m.lastOwn = own
	}
	m.observe(own)

	entries := make(map[check.Key]healthcheck.EndpointStatus, own.Len())
	disagreements := 0
	m.mu.Lock()
	for k, st := range own.All() {
		id := m.id(k)
		up, down, others := 0, 0, 0
		if fresh {
			for inst, o := range m.others[id] {
				if _, ok := m.instances[inst]; !ok {
					continue
				}
				others++
				if o.State == healthcheck.StateDown {
					down++
				} else {
					up++
				}
			}
		}
		mine := st.State
		verdict := mine
		if others > 0 {
			switch mine {
			case healthcheck.StateUp:
				up++
			case healthcheck.StateDown:
				down++
			}
			verdict = Decide(m.opts.Rule, up, down)
		}
		if verdict != mine {
			v := st
			v.State = verdict
			if verdict == healthcheck.StateDown {
				v.LastError = fmt.Sprintf("down by the fleet's verdict: %d of %d observers see it down (down_when %s)", down, up+down, m.opts.Rule)
			} else {
				v.LastError = ""
			}
			st = v
		}
		entries[k] = st
		if mine != healthcheck.StateUnknown && verdict != mine {
			disagreements++
			if !m.disagreeing[k] {
				m.disagreeing[k] = true
				m.disagreementsTotal.Add(1)
			}
		} else if m.disagreeing[k] {
			delete(m.disagreeing, k)
		}
	}
	m.mu.Unlock()
	for k := range m.disagreeing {
		if _, ok := entries[k]; !ok {
			delete(m.disagreeing, k)
		}
	}
	m.disagreements.Store(int64(disagreements))
	m.targets.Store(int64(len(entries)))
	m.fleet.Store(healthcheck.NewStatusMap(entries))
	m.pruneIDs(own)
}

// freshLocked reports whether the others' observations count: etcd
// answered within the lease TTL, so the leases of members that died have
// been seen to expire.
func (m *Member) freshLocked(now time.Time) bool {
	return !m.lastContact.IsZero() && now.Sub(m.lastContact) <= m.ttl
}

// liveLocked returns the sorted names of the live members, this one
// included; only this one when the tables are not fresh.
func (m *Member) liveLocked(fresh bool) []string {
	if !fresh {
		return []string{m.self}
	}
	live := make([]string, 0, len(m.instances)+1)
	for name := range m.instances {
		live = append(live, name)
	}
	if _, ok := m.instances[m.self]; !ok {
		live = append(live, m.self)
	}
	slices.Sort(live)
	return live
}

// setFilter tells the checker which targets this member observes, when
// that changed, and reports whether it did. Out of contact with etcd, or
// when every member observes every target, it probes them all.
func (m *Member) setFilter(fresh bool, live []string) bool {
	if m.opts.SetProbeFilter == nil {
		return false
	}
	key := ""
	if fresh && m.opts.Observers > 0 && m.opts.Observers < len(live) {
		key = strings.Join(live, "\x00")
	}
	if key == m.filterKey {
		return false
	}
	m.filterKey = key
	if key == "" {
		m.opts.SetProbeFilter(nil)
		m.log.Info("probing every target", "instances", len(live), "reason", filterReason(fresh, m.opts.Observers))
		return true
	}
	self, n := m.self, m.opts.Observers
	m.opts.SetProbeFilter(func(k check.Key) bool { return isObserver(k.ID(), self, live, n) })
	m.log.Info("probing this member's share of the targets", "instances", len(live), "observers", n)
	return true
}

func filterReason(fresh bool, observers int) string {
	switch {
	case !fresh:
		return "out of contact with etcd"
	case observers == 0:
		return "observers: all"
	}
	return "no more live instances than observers"
}

// observe works out this member's observations from its own status map
// and, when they changed, hands them to the etcd goroutine to publish.
func (m *Member) observe(own *healthcheck.StatusMap) {
	obs := make(map[string]Observation)
	observing := 0
	for k, st := range own.All() {
		if st.State == healthcheck.StateUnknown {
			continue
		}
		observing++
		o := Observation{State: st.State, Since: st.Since}
		if st.State == healthcheck.StateDown {
			o.Error = st.LastError
		}
		obs[m.id(k)] = o
	}
	m.observing.Store(int64(observing))
	m.mu.Lock()
	changed := len(obs) != len(m.ownObs)
	if !changed {
		for id, o := range obs {
			if p, ok := m.ownObs[id]; !ok || !sameObservation(p, o) {
				changed = true
				break
			}
		}
	}
	if changed {
		m.ownObs = obs
	}
	m.mu.Unlock()
	if changed {
		select {
		case m.dirty <- struct{}{}:
		default:
		}
	}
}

// id returns the target ID of k, remembered.
func (m *Member) id(k check.Key) string {
	id, ok := m.ids[k]
	if !ok {
		id = k.ID()
		m.ids[k] = id
	}
	return id
}

// pruneIDs forgets the IDs of keys no longer checked, once they are many.
func (m *Member) pruneIDs(own *healthcheck.StatusMap) {
	if len(m.ids) <= 2*own.Len()+64 {
		return
	}
	for k := range m.ids {
		if _, ok := own.Get(k); !ok {
			delete(m.ids, k)
		}
	}
}

// State is a member's standing in the fleet, as plain values for the
// metrics, /readyz and the status page.
type State struct {
	Instance string
	// Connected reports an etcd session up: leased, registered, watching.
	Connected bool
	// Fresh reports that etcd answered within the lease TTL, so the other
	// members' observations count; when false, every verdict is this
	// instance's own and it probes every target.
	Fresh       bool
	LastContact time.Time
	// LastError is why the last etcd session ended, "" while connected.
	LastError string
	// Instances are the live members, sorted, this one included.
	Instances []string
	// Targets are the targets checked; Observing those this member
	// probes and has a result for.
	Targets, Observing int
	// Disagreements are the targets whose verdict differs from this
	// member's own view now; DisagreementsTotal counts how often a target
	// began to.
	Disagreements      int
	DisagreementsTotal uint64
	// Malformed counts keys and values read from etcd that were ignored.
	Malformed uint64
	// Writes counts the etcd operations this member has written (puts,
	// deletes, lease grants and revocations; not lease renewals).
	Writes uint64
	// LeaseTTL is how long this member's observations outlive its last
	// contact with etcd.
	LeaseTTL time.Duration
}

// State returns the member's standing now.
func (m *Member) State() State {
	now := time.Now()
	m.mu.Lock()
	fresh := m.freshLocked(now)
	st := State{
		Instance:    m.self,
		Connected:   m.connected && fresh,
		Fresh:       fresh,
		LastContact: m.lastContact,
		LastError:   m.lastErr,
		Instances:   m.liveLocked(fresh),
		LeaseTTL:    m.ttl,
	}
	m.mu.Unlock()
	st.Targets = int(m.targets.Load())
	st.Observing = int(m.observing.Load())
	st.Disagreements = int(m.disagreements.Load())
	st.DisagreementsTotal = m.disagreementsTotal.Load()
	st.Malformed = m.malformed.Load()
	st.Writes = m.writes.Load()
	return st
}

// Detail says in one line how the member stands, for /readyz and the
// status page.
func (s State) Detail() string {
	switch {
	case s.Fresh && s.Connected:
		return fmt.Sprintf("etcd: connected; %d live instances decide health together", len(s.Instances))
	case s.Fresh:
		return fmt.Sprintf("etcd: reconnecting (%s); keeping the fleet's last state", s.LastError)
	case s.LastContact.IsZero():
		return "etcd: not reached yet; health from this instance's probes alone"
	}
	why := ""
	if s.LastError != "" {
		why = " (" + s.LastError + ")"
	}
	return fmt.Sprintf("etcd: out of contact since %s%s; health from this instance's probes alone",
		s.LastContact.UTC().Format(time.RFC3339), why)
}

// TargetView is how the fleet sees one target.
type TargetView struct {
	// Verdict is the fleet's state of the target, what routing uses.
	Verdict healthcheck.State
	// Own is this instance's own view, Unknown when it does not probe
	// the target.
	Own healthcheck.State
	// Observers are the fresh observations, this instance's included,
	// sorted by instance.
	Observers []ObserverView
	// Assigned are the live members that should observe the target.
	Assigned []string
}

// ObserverView is one member's observation of a target.
type ObserverView struct {
	Instance string
	Observation
	// Self marks this instance's own observation.
	Self bool
}

// Target returns how the fleet sees the target with key k, for the admin
// API and the status page; false when this instance does not check it.
func (m *Member) Target(k check.Key) (TargetView, bool) {
	own, ok := m.opts.Own().Get(k)
	if !ok {
		return TargetView{}, false
	}
	v := TargetView{Own: own.State}
	if st, ok := m.Health().Get(k); ok {
		v.Verdict = st.State
	}
	if own.State != healthcheck.StateUnknown {
		v.Observers = append(v.Observers, ObserverView{Instance: m.self, Self: true,
			Observation: Observation{State: own.State, Since: own.Since, Error: own.LastError}})
	}
	id := k.ID()
	m.mu.Lock()
	fresh := m.freshLocked(time.Now())
	live := m.liveLocked(fresh)
	if fresh {
		for inst, o := range m.others[id] {
			if _, ok := m.instances[inst]; ok {
				v.Observers = append(v.Observers, ObserverView{Instance: inst, Observation: o})
			}
		}
	}
	m.mu.Unlock()
	slices.SortFunc(v.Observers, func(a, b ObserverView) int { return strings.Compare(a.Instance, b.Instance) })
	v.Assigned = Observers(id, live, m.opts.Observers)
	slices.Sort(v.Assigned)
	return v, true
}
