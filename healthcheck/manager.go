package healthcheck

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// Defaults for Options fields left at zero.
const (
	DefaultMaxConcurrent = 256
	DefaultStartupGrace  = 5 * time.Second
	DefaultPublishDelay  = 50 * time.Millisecond
)

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Logger receives one line per state change. Nil means slog.Default().
	Logger *slog.Logger
	// AllowExec permits exec checks. Without it SetTargets rejects any
	// target whose check runs a command.
	AllowExec bool
	// MaxConcurrent bounds the probes in flight at once (default 256).
	MaxConcurrent int
	// RootCAs verifies https checks; nil means the system roots.
	RootCAs *x509.CertPool
	// SourceAddress, when valid, is the local address tcp, http(s) and dns
	// probes are sent from, for targets of its address family.
	SourceAddress netip.Addr
	// Now stamps results and transitions; nil means time.Now. Scheduling
	// always uses the real clock.
	Now func() time.Time
	// StartupGrace is how long after Run starts Ready turns true even if
	// some targets have no result yet (default 5s).
	StartupGrace time.Duration
	// PublishDelay is the longest a change waits before it is published
	// in a new StatusMap (default 50ms). Changes that arrive meanwhile are
	// published together, so that thousands of targets changing at once
	// (at startup, or when a network path fails) cost a few copies of the
	// map rather than one per target.
	PublishDelay time.Duration
	// OnTransition, if set, is called for every state change once the
	// change has been published, from the single goroutine that
	// publishes: calls come in the order the changes happened. It must not
	// block for long, since publishing waits for it.
	OnTransition func(Transition)
	// OnResult, if set, is called with every probe result once it has been
	// applied (but perhaps before it is published), from the goroutine that
	// probed the target. It suits metrics.
	OnResult func(check.Key, Result)
}

// Transition describes one change of a target's state.
type Transition struct {
	Key check.Key
	// Target is the target as last passed to SetTargets; when several
	// targets share the key, it is one of them.
	Target check.Target
	From   State
	To     State
	// Reason is the last error when the target went down, and the probe
	// latency when it came up.
	Reason string
	At     time.Time
}

// Manager probes targets on schedule and publishes their health.
//
// SetTargets may be called at any time, before or while Run runs; Status,
// Ready and WaitReady may be called from any goroutine.
type Manager struct {
	opts   Options
	log    *slog.Logger
	sem    chan struct{}
	status atomic.Pointer[StatusMap]
	// kick wakes Run's publisher after a change that is published late.
	kick chan struct{}

	ready     chan struct{}
	readyOnce sync.Once

	// mu guards everything below and the mutable fields of every entry.
	// Probes run without it; it is held only to apply a result or to
	// change the target set.
	mu      sync.Mutex
	entries map[check.Key]*entry
	pending int  // targets without a first result
	dirty   bool // entries changed since the last publish
	// changes are the transitions applied but not yet published, and
	// firstResults whether the last pending target got its first result
	// since the last publish; both wait for the publisher.
	changes      []Transition
	firstResults bool
	running      bool
	runCtx       context.Context
	wg           sync.WaitGroup // target loops of the current Run
	// probes, when not nil, says which keys this Manager probes; the
	// others stay Unknown (SetProbeFilter).
	probes func(check.Key) bool
}

// entry is one probed key.
type entry struct {
	key      check.Key
	prober   prober
	interval time.Duration
	timeout  time.Duration
	rise     int
	fall     int

	// Guarded by Manager.mu.
	target check.Target
	health health
	cancel context.CancelFunc // stops the loop; nil when not running
	// idle is set while the probe filter leaves the key out.
	idle bool
	// gen counts the loops started; a loop's results apply only while
	// it is the latest, so a loop stopped by the filter and replaced by
	// a new one cannot apply a late result.
	gen uint64
}

// NewManager returns a Manager with no targets. Nothing is probed until Run.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StartupGrace <= 0 {
		opts.StartupGrace = DefaultStartupGrace
	}
	if opts.PublishDelay <= 0 {
		opts.PublishDelay = DefaultPublishDelay
	}
	m := &Manager{
		opts:    opts,
		log:     opts.Logger,
		sem:     make(chan struct{}, opts.MaxConcurrent),
		kick:    make(chan struct{}, 1),
		ready:   make(chan struct{}),
		entries: make(map[check.Key]*entry),
	}
	m.status.Store(&StatusMap{entries: map[check.Key]EndpointStatus{}})
	return m
}

// Status returns the current health snapshot. It never returns nil and
// costs one atomic load; the map must not be modified.
func (m *Manager) Status() *StatusMap {
	return m.status.Load()
}

// Ready reports whether every target has had its first result, or the
// startup grace has passed since Run started. Once true it stays true, even
// when later SetTargets calls add targets.
func (m *Manager) Ready() bool {
	select {
	case <-m.ready:
		return true
	default:
		return false
	}
}

// WaitReady blocks until Ready is true or ctx ends.
func (m *Manager) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("healthcheck: waiting for first results: %w", ctx.Err())
	}
}

// SetTargets replaces the set of probed targets. Targets whose key is
// already probed keep their state; new keys start Unknown and are probed
// soon if Run is running; keys no longer listed stop being probed. Targets
// with equal keys are probed once.
//
// SetTargets checks every target first, as CheckTargets does, and changes
// nothing when one fails.
func (m *Manager) SetTargets(targets []check.Target) error {
	want, err := m.normalizeAll(targets)
	if err != nil {
		return err
	}

	at := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	probers := make(map[check.Key]prober)
	for k, t := range want {
		if _, ok := m.entries[k]; ok {
			continue
		}
		p, err := newProber(t, m.opts.RootCAs, m.opts.SourceAddress)
		if err != nil {
			return fmt.Errorf("healthcheck: check %q at %s: %w", t.Spec.Name, t.Address, err)
		}
		probers[k] = p
	}

	removed := 0
	for k, e := range m.entries {
		if _, ok := want[k]; ok {
			continue
		}
		if e.cancel != nil {
			e.cancel()
		}
		if !e.health.probed && !e.idle {
			m.pending--
		}
		delete(m.entries, k)
		removed++
	}
	for k, t := range want {
		if e, ok := m.entries[k]; ok {
			e.target = t
			continue
		}
		e := &entry{
			key:      k,
			prober:   probers[k],
			interval: t.Spec.Interval,
			timeout:  t.Spec.Timeout,
			rise:     t.Spec.Rise,
			fall:     t.Spec.Fall,
			target:   t,
			health:   newHealth(at),
			idle:     m.probes != nil && !m.probes(k),
		}
		m.entries[k] = e
		if e.idle {
			continue
		}
		m.pending++
		if m.running {
			m.startLocked(e)
		}
	}
	m.publishLocked()
	if m.running && m.pending == 0 {
		m.markReady()
	}
	m.log.Debug("health check targets set",
		slog.Int("targets", len(m.entries)), slog.Int("added", len(probers)), slog.Int("removed", removed))
	return nil
}

// SetProbeFilter limits probing to the keys for which probes returns true
// (nil: every key), for a fleet whose instances share the probing of the
// targets. A key left out stops being probed and its state becomes
// Unknown at once, since this Manager no longer looks at it; a key taken
// back in starts Unknown and is probed soon if Run is running. probes is
// called with the Manager's lock held, for every target now and for every
// new target later: it must be quick and must not call the Manager.
func (m *Manager) SetProbeFilter(probes func(check.Key) bool) {
	at := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probes = probes
	changed := false
	for k, e := range m.entries {
		idle := probes != nil && !probes(k)
		if idle == e.idle {
			continue
		}
		changed = true
		e.idle = idle
		if idle {
			if e.cancel != nil {
				e.cancel()
				e.cancel = nil
			}
			if !e.health.probed {
				m.pending--
			}
			e.health = newHealth(at)
			continue
		}
		e.health = newHealth(at)
		m.pending++
		if m.running {
			m.startLocked(e)
		}
	}
	if !changed {
		return
	}
	m.publishLocked()
	if m.running && m.pending == 0 {
		m.markReady()
	}
}

// Probing reports whether the Manager probes the target with key k: it
// is one of its targets and the probe filter keeps it.
func (m *Manager) Probing(k check.Key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	return ok && !e.idle
}

// CheckTargets reports whether SetTargets would accept targets, without
// changing anything: it fails when a target is invalid, lacks an address,
// or runs a command while exec checks are not allowed, naming each such
// check and address. A reload calls it while it validates a new snapshot,
// and hands the targets to SetTargets only once the snapshot is in service.
func (m *Manager) CheckTargets(targets []check.Target) error {
	_, err := m.normalizeAll(targets)
	return err
}

// normalizeAll normalizes every target, keyed and with duplicates merged,
// or returns the errors of those that fail.
func (m *Manager) normalizeAll(targets []check.Target) (map[check.Key]check.Target, error) {
	want := make(map[check.Key]check.Target, len(targets))
	var errs []error
	seen := make(map[string]bool)
	for _, t := range targets {
		nt, err := m.normalize(t)
		if err != nil {
			if msg := err.Error(); !seen[msg] {
				seen[msg] = true
				errs = append(errs, err)
			}
			continue
		}
		k := nt.Key()
		if _, dup := want[k]; !dup {
			want[k] = nt
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs, 10)
	}
	return want, nil
}

// normalize validates t and returns it with defaults applied.
func (m *Manager) normalize(t check.Target) (check.Target, error) {
	if !t.Address.IsValid() {
		return check.Target{}, fmt.Errorf("healthcheck: check %q: target has no address", t.Spec.Name)
	}
	if err := t.Spec.Validate(); err != nil {
		return check.Target{}, fmt.Errorf("healthcheck: check %q at %s: %w", t.Spec.Name, t.Address, err)
	}
	if t.Spec.Type == check.Exec && !m.opts.AllowExec {
		return check.Target{}, fmt.Errorf("healthcheck: check %q at %s: exec checks are not allowed on this server", t.Spec.Name, t.Address)
	}
	t.Spec = t.Spec.WithDefaults()
	t.Address = t.Address.Unmap()
	return t, nil
}

// joinErrors joins up to limit errors and says how many more there were.
func joinErrors(errs []error, limit int) error {
	if len(errs) <= limit {
		return errors.Join(errs...)
	}
	more := fmt.Errorf("healthcheck: and %d more invalid targets", len(errs)-limit)
	return errors.Join(append(errs[:limit:limit], more)...)
}

// Probe runs t's check once, bounded by its timeout, outside the schedule
// and without touching any state. It is meant for an admin "test this check"
// request; it fails like SetTargets for a target that cannot be probed.
func (m *Manager) Probe(ctx context.Context, t check.Target) (Result, error) {
	nt, err := m.normalize(t)
	if err != nil {
		return Result{}, err
	}
	p, err := newProber(nt, m.opts.RootCAs, m.opts.SourceAddress)
	if err != nil {
		return Result{}, fmt.Errorf("healthcheck: check %q at %s: %w", nt.Spec.Name, nt.Address, err)
	}
	return runProbe(ctx, p, nt.Spec.Timeout), nil
}

// Run probes every target on its schedule until ctx ends, then waits for
// the probes in flight to stop and returns nil. It returns an error at once
// if the Manager is already running.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("healthcheck: Run called while already running")
	}
	m.running = true
	m.runCtx = ctx
	for _, e := range m.entries {
		if !e.idle {
			m.startLocked(e)
		}
	}
	if m.pending == 0 {
		m.markReady()
	}
	m.mu.Unlock()

	grace := time.NewTimer(m.opts.StartupGrace)
	defer grace.Stop()
	publish := time.NewTimer(time.Hour)
	publish.Stop()
	defer publish.Stop()
	var publishC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			m.stop()
			return nil
		case <-grace.C:
			if !m.Ready() {
				m.mu.Lock()
				pending := m.pending
				m.mu.Unlock()
				m.log.Info("health check startup grace passed before every target had a result",
					slog.Duration("grace", m.opts.StartupGrace), slog.Int("pending", pending))
				m.markReady()
			}
		case <-m.kick:
			// The first change after a publish starts the delay; later
			// ones ride along with it.
			if publishC == nil {
				publish.Reset(m.opts.PublishDelay)
				publishC = publish.C
			}
		case <-publishC:
			publishC = nil
			m.flush()
		}
	}
}

// stop ends every target loop, waits for them, and publishes what they
// left behind.
func (m *Manager) stop() {
	m.mu.Lock()
	m.running = false
	m.runCtx = nil
	for _, e := range m.entries {
		if e.cancel != nil {
			e.cancel()
			e.cancel = nil
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.flush()
}

// startLocked starts e's probe loop under the current Run.
func (m *Manager) startLocked(e *entry) {
	ctx, cancel := context.WithCancel(m.runCtx)
	e.cancel = cancel
	e.gen++
	m.wg.Add(1)
	go m.loop(ctx, e, e.gen)
}

// loop probes one target until ctx ends. Each target has its own goroutine
// and timer: goroutines are cheap next to the sockets they wait on, and a
// slow target then delays nothing but itself.
func (m *Manager) loop(ctx context.Context, e *entry, gen uint64) {
	defer m.wg.Done()
	// The first round starts within a second so startup is quick, spread
	// out so that thousands of targets do not all dial at once.
	wait := randDuration(min(e.interval, time.Second))
	next := time.Now().Add(wait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r := runProbe(ctx, e.prober, e.timeout)
		<-m.sem
		if ctx.Err() != nil {
			// Stopped or removed mid-probe: the result says nothing
			// about the endpoint.
			return
		}
		m.observe(e, gen, r)

		now := time.Now()
		next = next.Add(jitter(e.interval))
		if next.Before(now.Add(-e.interval)) {
			// Far behind, after waiting long for the semaphore: start
			// a fresh rhythm rather than probing in a burst.
			next = now
		}
		timer.Reset(max(next.Sub(now), 0))
	}
}

// observe applies a probe result of e's loop number gen and leaves the
// change for the publisher.
func (m *Manager) observe(e *entry, gen uint64, r Result) {
	at := m.opts.Now()
	m.mu.Lock()
	if m.entries[e.key] != e || e.idle || e.gen != gen {
		m.mu.Unlock()
		return
	}
	prev := e.health
	cur := prev.observe(r, at, e.rise, e.fall)
	e.health = cur
	m.dirty = true
	if cur.state != prev.state {
		m.changes = append(m.changes, Transition{
			Key:    e.key,
			Target: e.target,
			From:   prev.state,
			To:     cur.state,
			Reason: transitionReason(prev.state, cur, r, e.rise, e.fall),
			At:     at,
		})
	}
	if !prev.probed {
		m.pending--
		if m.pending == 0 {
			m.firstResults = true
		}
	}
	m.mu.Unlock()

	select {
	case m.kick <- struct{}{}:
	default:
	}
	if m.opts.OnResult != nil {
		m.opts.OnResult(e.key, r)
	}
}

// transitionReason explains a change from prev to cur.state caused by r.
func transitionReason(prev State, cur health, r Result, rise, fall int) string {
	latency := r.Latency.Round(time.Microsecond)
	switch {
	case cur.state == StateUp && prev == StateUnknown:
		return fmt.Sprintf("probe succeeded in %s", latency)
	case cur.state == StateUp:
		return fmt.Sprintf("%d consecutive successes, last in %s", rise, latency)
	case prev == StateUnknown:
		return cur.lastErr
	default:
		return fmt.Sprintf("%d consecutive failures, last: %s", fall, cur.lastErr)
	}
}

// publishLocked stores a fresh snapshot of every entry. The caller holds mu.
func (m *Manager) publishLocked() {
	entries := make(map[check.Key]EndpointStatus, len(m.entries))
	for k, e := range m.entries {
		entries[k] = e.health.status()
	}
	m.status.Store(&StatusMap{entries: entries})
	m.dirty = false
}

// flush publishes pending changes, if any, and then reports them: the
// transitions to the log and OnTransition, and readiness once every target
// has a first result, so that whoever hears of a change finds it in Status.
func (m *Manager) flush() {
	m.mu.Lock()
	if m.dirty {
		m.publishLocked()
	}
	changes := m.changes
	m.changes = nil
	ready := m.firstResults
	m.firstResults = false
	m.mu.Unlock()

	for _, t := range changes {
		level := slog.LevelInfo
		if t.To == StateDown {
			level = slog.LevelWarn
		}
		m.log.LogAttrs(context.Background(), level, "endpoint health changed",
			slog.String("target", t.Key.String()),
			slog.String("from", t.From.String()),
			slog.String("to", t.To.String()),
			slog.String("reason", t.Reason))
		if m.opts.OnTransition != nil {
			m.opts.OnTransition(t)
		}
	}
	if ready {
		m.markReady()
	}
}

func (m *Manager) markReady() {
	m.readyOnce.Do(func() { close(m.ready) })
}

// randDuration returns a random duration in [0, n).
func randDuration(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(n)))
}

// jitter returns d moved by a random amount within ±10%.
func jitter(d time.Duration) time.Duration {
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d - spread + randDuration(2*spread)
}
