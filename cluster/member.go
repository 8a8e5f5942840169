package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// Timing of a member.
const (
	// decideEvery is how often a member looks for changes it was not told
	// about (a new own status map, contact with etcd running out).
	decideEvery = 100 * time.Millisecond
	// maxTxnOps bounds the operations of one transaction (etcd refuses
	// more than --max-txn-ops, 128 by default).
	maxTxnOps = 100
	// retryMin and retryMax bound the wait before a new etcd session.
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
	// badLogEvery is the least time between two logged malformed values.
	badLogEvery = time.Minute
)

// Options configures a Member.
type Options struct {
	// Connection is how to reach etcd.
	Connection Connection
	// Instance is this member's unique name (cluster.instance).
	Instance string
	// Rule decides a target from its observations (down_when).
	Rule Rule
	// Observers is how many live members probe each target; 0 for all.
	Observers int
	// LeaseTTL is how long this member's registration and observations
	// outlive its last contact with etcd (LeaseTTL of the slowest check).
	// It is also how long it trusts the others' observations without
	// hearing from etcd. At least a second.
	LeaseTTL time.Duration
	// Version is registered with the instance.
	Version string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Own returns this member's own probe results (Manager.Status).
	Own func() *healthcheck.StatusMap
	// SetProbeFilter tells the checker which targets this member probes
	// (Manager.SetProbeFilter); nil for a checker that probes everything.
	SetProbeFilter func(func(check.Key) bool)
}

// Member is this instance's part in the fleet. Health and State may be
// called from any goroutine; Run runs the member.
type Member struct {
	opts   Options
	log    *slog.Logger
	ttl    time.Duration
	prefix string
	self   string

	// fleet is the verdict map the DNS path reads.
	fleet atomic.Pointer[healthcheck.StatusMap]
	// kick asks the deciding goroutine to look now; dirty asks the etcd
	// goroutine to publish this member's changed observations.
	kick, dirty chan struct{}

	malformed, writes, disagreementsTotal atomic.Uint64
	disagreements, observing, targets     atomic.Int64
	// decisions counts the runs of decide, for tests to wait on.
	decisions atomic.Uint64

	// mu guards the tables read from etcd and what this member has to
	// publish. The etcd goroutine fills the tables, the deciding goroutine
	// reads them; neither holds mu across a network call.
	mu          sync.Mutex
	instances   map[string]Instance               // live members, this one included once registered
	others      map[string]map[string]Observation // target ID -> instance -> observation (not this one's)
	observed    map[string]map[string]bool        // instance -> the target IDs it has observations of in others
	stored      int                               // observations in others
	version     uint64                            // bumped on every change of the tables
	changed     map[string]bool                   // target IDs whose observations changed since the last decision
	allChanged  bool                              // something changed that may move every verdict
	connected   bool                              // an etcd session is up
	lastContact time.Time                         // last answer from etcd
	lastErr     string
	ownObs      map[string]Observation // this member's observations, replaced whole
	ownLive     string                 // liveKey of the instances ownObs was worked out for; written by the deciding goroutine
	// repair lists this member's observations that someone else changed
	// or deleted, and reregister its registration: both are written again.
	repair     map[string]bool
	reregister bool
	badLogged  time.Time
	badQuiet   int // malformed values not logged since badLogged

	// Owned by the deciding goroutine.
	ids         map[check.Key]string
	keys        map[string]check.Key                     // the inverse of ids
	verdicts    map[check.Key]healthcheck.EndpointStatus // the entries of fleet
	lastOwn     *healthcheck.StatusMap
	lastVer     uint64
	lastFresh   bool
	lastSettled bool
	knownLive   string    // liveKey of the live instances the tables hold
	knownSince  time.Time // when knownLive last changed
	// observedOwn is the own map the observations were last worked out
	// from (ownLive, the live set).
	observedOwn *healthcheck.StatusMap
	decided     bool
	filterKey   string
	shareLive   string          // liveKey of the instances share was worked out for
	share       map[string]bool // target ID -> this member observes it among shareLive
	disagreeing map[check.Key]bool
}

// New returns a member that has not contacted etcd yet: until it does,
// Health is this instance's own view.
func New(opts Options) (*Member, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Own == nil {
		return nil, errors.New("cluster: no own health source")
	}
	if len(opts.Connection.Endpoints) == 0 {
		return nil, errors.New("cluster: no etcd endpoints")
	}
	if !strings.HasSuffix(opts.Connection.Prefix, "/") {
		return nil, fmt.Errorf("cluster: prefix %q does not end in /", opts.Connection.Prefix)
	}
	if opts.LeaseTTL < time.Second {
		opts.LeaseTTL = time.Second
	}
	m := &Member{
		opts:        opts,
		log:         opts.Logger.With("instance", opts.Instance),
		ttl:         opts.LeaseTTL.Round(time.Second),
		prefix:      opts.Connection.Prefix,
		self:        opts.Instance,
		kick:        make(chan struct{}, 1),
		dirty:       make(chan struct{}, 1),
		instances:   map[string]Instance{},
		repair:      map[string]bool{},
		others:      map[string]map[string]Observation{},
		observed:    map[string]map[string]bool{},
		ids:         map[check.Key]string{},
		keys:        map[string]check.Key{},
		changed:     map[string]bool{},
		share:       map[string]bool{},
		disagreeing: map[check.Key]bool{},
	}
	return m, nil
}

// Health returns the fleet's verdict on every target this instance
// checks, in the form of its own status map: the state is the fleet's,
// latency and load are this instance's. It costs one atomic load and
// never returns nil. It suits health.NewView.
func (m *Member) Health() *healthcheck.StatusMap {
	if f := m.fleet.Load(); f != nil {
		return f
	}
	return m.opts.Own()
}

// Kick tells the member that this instance's own status changed (from the
// checker's OnTransition), so it decides and publishes without waiting.
func (m *Member) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run connects to etcd and takes part in the fleet until ctx ends; it
// returns nil then, having withdrawn this member's registration and
// observations when etcd still answers. It never blocks anything else:
// with etcd unreachable it keeps retrying while Health serves the last
// state, then this instance's own view.
func (m *Member) Run(ctx context.Context) error {
	cli, err := m.opts.Connection.client(m.opTimeout(), m.ttl)
	if err != nil {
		return err
	}
	defer cli.Close()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.decideLoop(ctx)
	}()
	m.etcdLoop(ctx, cli)
	wg.Wait()
	return nil
}

// opTimeout bounds one etcd request.
func (m *Member) opTimeout() time.Duration { return min(max(m.ttl/3, time.Second), 5*time.Second) }

// etcdLoop runs sessions until ctx ends, waiting longer after each one
// that fails soon.
func (m *Member) etcdLoop(ctx context.Context, cli *clientv3.Client) {
	var lease clientv3.LeaseID
	var r retry
	for ctx.Err() == nil {
		began := time.Now()
		err := m.session(ctx, cli, &lease)
		if errors.Is(err, errLeaseLost) || rpcLeaseGone(err) {
			lease = 0
		}
		m.mu.Lock()
		m.connected = false
		if err != nil && ctx.Err() == nil {
			m.lastErr = err.Error()
		}
		m.changedAllLocked()
		m.mu.Unlock()
		m.Kick()
		if !r.after(ctx, began, m.ttl, err, m.log, "etcd session ended; deciding from the last known state until it expires, then from this instance's probes") {
			break
		}
	}
	if lease != 0 {
		// Withdraw at once rather than when the lease runs out, so that
		// the others stop counting this member now.
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := cli.Revoke(rctx, lease); err == nil {
			m.writes.Add(1)
		}
		cancel()
	}
}

// errLeaseLost ends a session whose lease expired.
var errLeaseLost = errors.New("lease expired or revoked")

// session is one stretch of contact with etcd: take a lease (or keep the
// one that is still alive) and keep it alive, read the whole prefix,
// register on the lease, then follow the changes from the revision read
// and publish this member's observations, until something fails.
//
// Observations are published only once the deciding goroutine has worked
// them out from the live instances the read found (see publish): a member
// that joins publishes its share of the targets, never every target it
// probed while alone.
func (m *Member) session(ctx context.Context, cli *clientv3.Client, lease *clientv3.LeaseID) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *lease == 0 {
		rctx, done := context.WithTimeout(ctx, m.opTimeout())
		g, err := cli.Grant(rctx, int64(m.ttl/time.Second))
		done()
		if err != nil {
			return fmt.Errorf("granting a lease: %w", err)
		}
		*lease = g.ID
		m.writes.Add(1)
	}
	// Keep the lease alive from now on, so that a slow read of a large
	// prefix cannot let it expire under the registration.
	ka, err := cli.KeepAlive(ctx, *lease)
	if err != nil {
		return fmt.Errorf("keeping the lease alive: %w", err)
	}
	rctx, done := context.WithTimeout(ctx, m.bulkTimeout())
	resp, err := cli.Get(rctx, m.prefix, clientv3.WithPrefix())
	done()
	if err != nil {
		return fmt.Errorf("reading %s: %w", m.prefix, err)
	}
	// After a session that ended with the lease alive (etcd restarted,
	// a network blip), what this member published is still there: only
	// what changed meanwhile is written.
	published := map[string]Observation{}
	stale := m.load(resp.Kvs, *lease, published)
	registration := clientv3.OpPut(m.prefix+instancesDir+m.self,
		string(Instance{Version: m.opts.Version, Started: time.Now()}.Marshal()), clientv3.WithLease(*lease))
	m.mu.Lock()
	clear(m.repair)
	m.reregister = false
	m.mu.Unlock()
	if err := m.publish(ctx, cli, *lease, published, stale, registration); err != nil {
		return err
	}
	m.mu.Lock()
	m.connected = true
	m.lastContact = time.Now()
	m.lastErr = ""
	m.changedAllLocked()
	m.mu.Unlock()
	m.Kick()
	m.log.Info("etcd session started", "instances", len(m.State().Instances))

	watch := cli.Watch(clientv3.WithRequireLeader(ctx), m.prefix, clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1), clientv3.WithProgressNotify())
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r, ok := <-ka:
			if !ok || r == nil {
				return errLeaseLost
			}
			m.contact()
		case wr, ok := <-watch:
			if !ok {
				return errors.New("watch ended")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			m.apply(wr.Events)
		case <-m.dirty:
			var extra []clientv3.Op
			m.mu.Lock()
			for id := range m.repair {
				delete(published, id)
			}
			clear(m.repair)
			if m.reregister {
				extra = append(extra, registration)
				m.reregister = false
			}
			m.mu.Unlock()
			if err := m.publish(ctx, cli, *lease, published, stale, extra...); err != nil {
				return err
			}
		}
	}
}

// bulkTimeout bounds the read of the whole prefix and a transaction of up
// to maxTxnOps operations, which take longer as the fleet and its targets
// grow and when many instances (re)join at once.
func (m *Member) bulkTimeout() time.Duration { return max(m.ttl, 5*time.Second) }

// contact records an answer from etcd.
func (m *Member) contact() {
	m.mu.Lock()
	m.lastContact = time.Now()
	m.mu.Unlock()
}

// publish brings this member's keys in etcd to its current observations:
// it writes those that changed since published (which it updates), deletes
// those gone and the IDs in stale (this member's keys found in etcd, which
// it then forgets), all on lease, plus extra operations, in
// transactions of at most maxTxnOps.
//
// The observations are left as they are while they were worked out for
// another set of live instances than the tables now hold: the deciding
// goroutine works them out again (the tables' version changed) and asks
// for a publish then. Only extra is written meanwhile.
func (m *Member) publish(ctx context.Context, cli *clientv3.Client, lease clientv3.LeaseID,
	published map[string]Observation, stale map[string]bool, extra ...clientv3.Op) error {
	m.mu.Lock()
	own := m.ownObs
	current := m.ownLive == liveKey(m.liveLocked(true))
	m.mu.Unlock()
	ops := extra
	if current {
		for id, o := range own {
			if p, ok := published[id]; ok && sameObservation(p, o) {
				continue
			}
			ops = append(ops, clientv3.OpPut(m.observationKey(id), string(o.Marshal()), clientv3.WithLease(lease)))
		}
		for id := range published {
			if _, ok := own[id]; !ok {
				ops = append(ops, clientv3.OpDelete(m.observationKey(id)))
			}
		}
		for id := range stale {
			if _, ok := own[id]; !ok {
				if _, ok := published[id]; !ok {
					ops = append(ops, clientv3.OpDelete(m.observationKey(id)))
				}
			}
		}
	}
	for len(ops) > 0 {
		batch := ops[:min(len(ops), maxTxnOps)]
		ops = ops[len(batch):]
		rctx, done := context.WithTimeout(ctx, m.bulkTimeout())
		_, err := cli.Txn(rctx).Then(batch...).Commit()
		done()
		if err != nil {
			return fmt.Errorf("publishing observations: %w", err)
		}
		m.writes.Add(uint64(len(batch)))
	}
	m.contact()
	if !current {
		return nil
	}
	clear(stale) // each deleted, or written again with own
	clear(published)
	for id, o := range own {
		published[id] = o
	}
	return nil
}

func sameObservation(a, b Observation) bool {
	return a.State == b.State && a.Since.Equal(b.Since)
}

func (m *Member) observationKey(id string) string {
	return m.prefix + healthDir + m.self + "/" + id
}

// load replaces the tables with what a read of the whole prefix found.
// Of this member's own observations in it, those on lease that read
// back go into published, as what etcd holds already, and the target
// IDs of the others (older leases, values that do not read back) are
// returned, to be written again or deleted.
func (m *Member) load(kvs []*mvccpb.KeyValue, lease clientv3.LeaseID, published map[string]Observation) map[string]bool {
	stale := map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.instances)
	clear(m.others)
	clear(m.observed)
	m.stored = 0
	for _, kv := range kvs {
		id, self := m.putLocked(string(kv.Key), kv.Value)
		if !self {
			continue
		}
		if o, err := ParseObservation(kv.Value); err == nil && clientv3.LeaseID(kv.Lease) == lease {
			published[id] = o
			continue
		}
		stale[id] = true
	}
	m.changedAllLocked()
	return stale
}

// changedAllLocked notes a change of the tables that may move every
// verdict (a new read, contact gained or lost). The caller holds mu.
func (m *Member) changedAllLocked() {
	m.version++
	m.allChanged = true
}

// apply applies watched changes to the tables.
func (m *Member) apply(events []*clientv3.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastContact = time.Now()
	if len(events) == 0 {
		return
	}
	tampered := false
	for _, ev := range events {
		key := string(ev.Kv.Key)
		if m.checkOwnLocked(key, ev) {
			tampered = true
		}
		if ev.Type == clientv3.EventTypeDelete {
			m.deleteLocked(key)
			continue
		}
		m.putLocked(key, ev.Kv.Value)
	}
	m.version++
	select {
	case m.kick <- struct{}{}:
	default:
	}
	if tampered {
		select {
		case m.dirty <- struct{}{}:
		default:
		}
	}
}

// checkOwnLocked notes a change of this member's own keys that it did not
// make (its registration deleted, an observation changed or deleted by
// someone else), to write them again; it reports whether it found one.
// An event of an older write of its own may look the same: writing again
// costs one put.
func (m *Member) checkOwnLocked(key string, ev *clientv3.Event) bool {
	kind, target, inst, err := parseKey(strings.TrimPrefix(key, m.prefix))
	if err != nil || inst != m.self {
		return false
	}
	switch kind {
	case keyInstance:
		if ev.Type == clientv3.EventTypeDelete && m.connected {
			m.reregister = true
			return true
		}
	case keyObservation:
		o, ok := m.ownObs[target]
		if ev.Type == clientv3.EventTypeDelete {
			if ok {
				m.repair[target] = true
				return true
			}
			return false
		}
		if !ok || string(ev.Kv.Value) != string(o.Marshal()) {
			m.repair[target] = true
			return true
		}
	}
	return false
}

// putLocked records one key and value read from etcd, or drops what the
// key held when the value does not pass, counting and logging it. It
// reports the target ID when the key is one of this member's observations.
func (m *Member) putLocked(key string, value []byte) (id string, self bool) {
	kind, target, inst, err := parseKey(strings.TrimPrefix(key, m.prefix))
	if err != nil {
		m.badLocked(key, err)
		return "", false
	}
	switch kind {
	case keyInstance:
		i, err := ParseInstance(value)
		if err != nil {
			m.forgetInstanceLocked(inst)
			m.badLocked(key, err)
			return "", false
		}
		if _, ok := m.instances[inst]; !ok {
			if len(m.instances) >= maxInstances {
				m.badLocked(key, fmt.Errorf("more than %d instances", maxInstances))
				return "", false
			}
			m.changedByLocked(inst)
		}
		m.instances[inst] = i
	case keyObservation:
		if inst == m.self {
			return target, true
		}
		m.changed[target] = true
		o, err := ParseObservation(value)
		if err != nil {
			m.dropLocked(target, inst)
			m.badLocked(key, err)
			return "", false
		}
		byInst := m.others[target]
		if _, ok := byInst[inst]; !ok {
			if m.stored >= maxObservations {
				m.badLocked(key, fmt.Errorf("more than %d observations", maxObservations))
				return "", false
			}
			if byInst == nil {
				byInst = map[string]Observation{}
				m.others[target] = byInst
			}
			targets := m.observed[inst]
			if targets == nil {
				targets = map[string]bool{}
				m.observed[inst] = targets
			}
			targets[target] = true
			m.stored++
		}
		byInst[inst] = o
	}
	return "", false
}

// deleteLocked forgets what a deleted key held.
func (m *Member) deleteLocked(key string) {
	kind, target, inst, err := parseKey(strings.TrimPrefix(key, m.prefix))
	if err != nil {
		return
	}
	switch kind {
	case keyInstance:
		m.forgetInstanceLocked(inst)
	case keyObservation:
		m.changed[target] = true
		m.dropLocked(target, inst)
	}
}

func (m *Member) dropLocked(target, inst string) {
	byInst := m.others[target]
	if _, ok := byInst[inst]; !ok {
		return
	}
	delete(byInst, inst)
	m.stored--
	if len(byInst) == 0 {
		delete(m.others, target)
	}
	if targets := m.observed[inst]; targets != nil {
		delete(targets, target)
		if len(targets) == 0 {
			delete(m.observed, inst)
		}
	}
}

// forgetInstanceLocked drops a member from the live ones; its
// observations stay (they go with its lease) but no longer count.
func (m *Member) forgetInstanceLocked(inst string) {
	if _, ok := m.instances[inst]; ok {
		delete(m.instances, inst)
		m.changedByLocked(inst)
	}
}

// changedByLocked notes that the targets inst observes may have a new
// verdict, since it came or went.
func (m *Member) changedByLocked(inst string) {
	for target := range m.observed[inst] {
		m.changed[target] = true
	}
}

// badLocked counts a malformed key or value and logs it, at most once per
// badLogEvery, with how many were not logged since.
func (m *Member) badLocked(key string, err error) {
	m.malformed.Add(1)
	now := time.Now()
	if !m.badLogged.IsZero() && now.Sub(m.badLogged) < badLogEvery {
		m.badQuiet++
		return
	}
	m.log.Error("ignoring a malformed value in etcd", "key", clip(strings.TrimPrefix(key, m.prefix)), "error", err,
		"not_logged_since_last", m.badQuiet)
	m.badLogged, m.badQuiet = now, 0
}
