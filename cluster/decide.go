package cluster

import (
	"context"
	"fmt"
	"maps"
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

// shareSettle is how long the set of live instances must stay the same
// before a member moves to its new share of the targets. Instances that
// start (or reconnect) together then move the targets once, not once for
// each instance that registers.
const shareSettle = 500 * time.Millisecond

// decide recomputes, when its inputs changed, which targets this member
// probes, the observations it publishes and the fleet's verdicts, and
// publishes the verdicts in a new status map. When only other members'
// observations changed it recomputes just their targets, so a burst of
// watched changes costs what changed, not every target each time.
func (m *Member) decide() {
	defer m.decisions.Add(1)
	own := m.opts.Own()
	now := time.Now()
	m.mu.Lock()
	fresh := m.freshLocked(now)
	ver := m.version
	live := m.liveLocked(fresh)
	known := m.liveLocked(true)
	changed, all := m.changed, m.allChanged
	if len(changed) > 0 {
		m.changed = map[string]bool{}
	}
	m.allChanged = false
	m.mu.Unlock()
	if key := liveKey(known); key != m.knownLive {
		m.knownLive, m.knownSince = key, now
	}
	settled := now.Sub(m.knownSince) >= shareSettle
	if m.decided && own == m.lastOwn && ver == m.lastVer && fresh == m.lastFresh && settled == m.lastSettled {
		return
	}
	full := all || !m.decided || own != m.lastOwn || fresh != m.lastFresh
	m.decided, m.lastOwn, m.lastVer, m.lastFresh, m.lastSettled = true, own, ver, fresh, settled

	// While the live set settles, this member keeps probing and
	// publishing its previous share; out of contact it probes every
	// target at once.
	if (settled || !fresh) && m.setFilter(fresh, live, own) {
		// The checker published a new own map; decide on that one.
		own = m.opts.Own()
		m.lastOwn = own
		full = true
	}
	// ownLive is written by this goroutine only, so it reads it unlocked.
	if settled && (own != m.observedOwn || m.knownLive != m.ownLive) {
		m.observe(own, known)
		m.observedOwn = own
	}

	var entries map[check.Key]healthcheck.EndpointStatus
	m.mu.Lock()
	if full {
		entries = make(map[check.Key]healthcheck.EndpointStatus, own.Len())
		for k, st := range own.All() {
			entries[k] = m.verdictLocked(k, m.id(k), st, fresh)
		}
	} else {
		for id := range changed {
			k, ok := m.keys[id]
			if !ok {
				continue
			}
			st, ok := own.Get(k)
			if !ok {
				continue
			}
			v := m.verdictLocked(k, id, st, fresh)
			if v == m.verdicts[k] {
				continue
			}
			if entries == nil {
				entries = maps.Clone(m.verdicts)
			}
			entries[k] = v
		}
	}
	m.mu.Unlock()
	if entries == nil {
		return
	}
	if full {
		for k := range m.disagreeing {
			if _, ok := entries[k]; !ok {
				delete(m.disagreeing, k)
			}
		}
		m.pruneIDs(own)
	}
	m.verdicts = entries
	m.disagreements.Store(int64(len(m.disagreeing)))
	m.targets.Store(int64(len(entries)))
	m.fleet.Store(healthcheck.NewStatusMap(entries))
}

// verdictLocked decides the target with key k and ID id, which this
// instance sees as st, from the fresh observations of the live members,
// and notes whether the verdict disagrees with st. The caller holds mu.
func (m *Member) verdictLocked(k check.Key, id string, st healthcheck.EndpointStatus, fresh bool) healthcheck.EndpointStatus {
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
		st.State = verdict
		if verdict == healthcheck.StateDown {
			st.LastError = fmt.Sprintf("down by the fleet's verdict: %d of %d observers see it down (down_when %s)", down, up+down, m.opts.Rule)
		} else {
			st.LastError = ""
		}
	}
	if mine != healthcheck.StateUnknown && verdict != mine {
		if !m.disagreeing[k] {
			m.disagreeing[k] = true
			m.disagreementsTotal.Add(1)
		}
	} else {
		delete(m.disagreeing, k)
	}
	return st
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
func (m *Member) setFilter(fresh bool, live []string, own *healthcheck.StatusMap) bool {
	if m.opts.SetProbeFilter == nil {
		return false
	}
	key := ""
	if fresh && m.opts.Observers > 0 && m.opts.Observers < len(live) {
		key = liveKey(live)
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
	// Work the share out here, with the IDs this goroutine remembers; the
	// checker may also ask about targets added later, from its own
	// goroutine, which the filter answers from their IDs.
	m.useShare(live)
	probes := make(map[check.Key]bool, own.Len())
	for k := range own.All() {
		probes[k] = m.mine(m.id(k), live)
	}
	self, n := m.self, m.opts.Observers
	m.opts.SetProbeFilter(func(k check.Key) bool {
		if is, ok := probes[k]; ok {
			return is
		}
		return isObserver(k.ID(), self, live, n)
	})
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
// It publishes only the targets that are its share among the live
// instances the tables hold (known), also while out of contact and
// probing every target: those extra results are for its own verdicts,
// and publishing them would make every instance that loses contact for a
// moment write every target and the others read them.
func (m *Member) observe(own *healthcheck.StatusMap, known []string) {
	key := m.useShare(known)
	obs := make(map[string]Observation)
	observing := 0
	for k, st := range own.All() {
		if st.State == healthcheck.StateUnknown {
			continue
		}
		observing++
		id := m.id(k)
		if !m.mine(id, known) {
			continue
		}
		o := Observation{State: st.State, Since: st.Since}
		if st.State == healthcheck.StateDown {
			o.Error = st.LastError
		}
		obs[id] = o
	}
	m.observing.Store(int64(observing))
	m.mu.Lock()
	changed := len(obs) != len(m.ownObs) || key != m.ownLive
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
		m.ownLive = key
	}
	m.mu.Unlock()
	if changed {
		select {
		case m.dirty <- struct{}{}:
		default:
		}
	}
}

// useShare has mine answer for the live instances known, and returns
// their liveKey.
func (m *Member) useShare(known []string) string {
	key := liveKey(known)
	if key != m.shareLive {
		m.shareLive = key
		clear(m.share)
	}
	return key
}

// mine reports whether this member is one of the observers of the target
// with ID id among the live instances known (as last given to useShare),
// remembered until they change.
func (m *Member) mine(id string, known []string) bool {
	n := m.opts.Observers
	if n <= 0 || n >= len(known) {
		return true
	}
	is, ok := m.share[id]
	if !ok {
		is = isObserver(id, m.self, known, n)
		m.share[id] = is
	}
	return is
}

// liveKey names a sorted set of live instances in one comparable string.
func liveKey(live []string) string { return strings.Join(live, "\x00") }

// id returns the target ID of k, remembered.
func (m *Member) id(k check.Key) string {
	id, ok := m.ids[k]
	if !ok {
		id = k.ID()
		m.ids[k] = id
		m.keys[id] = k
	}
	return id
}

// pruneIDs forgets the IDs of keys no longer checked, and the share, once
// they are many.
func (m *Member) pruneIDs(own *healthcheck.StatusMap) {
	if len(m.share) > 2*own.Len()+64 {
		clear(m.share)
	}
	if len(m.ids) <= 2*own.Len()+64 {
		return
	}
	for k, id := range m.ids {
		if _, ok := own.Get(k); !ok {
			delete(m.ids, k)
			delete(m.keys, id)
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
