package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/internal/etcdtest"
)

// waitLimit bounds every wait: a test that does not get there fails rather
// than hangs. It is generous; nothing is timed.
const waitLimit = 20 * time.Second

// testTTL is the members' lease: short, so that expiry tests are quick.
const testTTL = 2 * time.Second

const (
	up   = healthcheck.StateUp
	down = healthcheck.StateDown
)

// fakeChecker stands in for a healthcheck.Manager: the test sets what this
// instance's probes see, and the member's probe filter decides which of
// those it publishes (a target left out is Unknown, as in the Manager).
type fakeChecker struct {
	mu     sync.Mutex
	keys   []check.Key
	sees   map[check.Key]healthcheck.State
	since  map[check.Key]time.Time
	filter func(check.Key) bool
	status atomic.Pointer[healthcheck.StatusMap]
	kick   func()
}

func newFakeChecker(keys []check.Key) *fakeChecker {
	f := &fakeChecker{keys: keys, sees: map[check.Key]healthcheck.State{}, since: map[check.Key]time.Time{}}
	for _, k := range keys {
		f.sees[k], f.since[k] = up, time.Now()
	}
	f.publishLocked()
	return f
}

func (f *fakeChecker) Status() *healthcheck.StatusMap { return f.status.Load() }

// see sets what this instance's probes of k say.
func (f *fakeChecker) see(k check.Key, s healthcheck.State) {
	f.mu.Lock()
	if f.sees[k] != s {
		f.sees[k], f.since[k] = s, time.Now()
	}
	f.publishLocked()
	kick := f.kick
	f.mu.Unlock()
	if kick != nil {
		kick()
	}
}

func (f *fakeChecker) SetProbeFilter(probes func(check.Key) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = probes
	f.publishLocked()
}

// probes reports whether the filter has this instance probe k.
func (f *fakeChecker) probes(k check.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.filter == nil || f.filter(k)
}

func (f *fakeChecker) publishLocked() {
	entries := map[check.Key]healthcheck.EndpointStatus{}
	for _, k := range f.keys {
		st := healthcheck.EndpointStatus{State: healthcheck.StateUnknown, Load: -1}
		if f.filter == nil || f.filter(k) {
			st.State, st.Since = f.sees[k], f.since[k]
			if st.State == down {
				st.LastError = "connection refused"
			}
		}
		entries[k] = st
	}
	f.status.Store(healthcheck.NewStatusMap(entries))
}

// testKeys returns n distinct check keys.
func testKeys(n int) []check.Key {
	out := make([]check.Key, n)
	for i := range out {
		t := check.Target{Spec: check.Spec{Type: check.TCP, Port: 1000 + i}, Address: netip.MustParseAddr("192.0.2.10")}
		out[i] = t.Key()
	}
	return out
}

// node is one member under test with its fake checker.
type node struct {
	name   string
	m      *Member
	f      *fakeChecker
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the member's Run (which revokes its lease) and waits for it.
func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	select {
	case <-n.done:
	case <-time.After(waitLimit):
		t.Errorf("%s: Run did not return within %s", n.name, waitLimit)
	}
	n.cancel = nil
}

type fleetOptions struct {
	rule      Rule
	observers int
	prefix    string
	// conn, when set, is the connection to use instead of the server's
	// endpoint under prefix.
	conn *Connection
}

// startNode runs a member named name against etcd until the test ends.
func startNode(t *testing.T, srv *etcdtest.Server, name string, keys []check.Key, o fleetOptions) *node {
	t.Helper()
	if o.prefix == "" {
		o.prefix = "/meridian/"
	}
	f := newFakeChecker(keys)
	conn := Connection{Endpoints: []string{srv.Endpoint()}, Prefix: o.prefix}
	if o.conn != nil {
		conn = *o.conn
	}
	m, err := New(Options{
		Connection:     conn,
		Instance:       name,
		Rule:           o.rule,
		Observers:      o.observers,
		LeaseTTL:       testTTL,
		Version:        "test",
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Own:            f.Status,
		SetProbeFilter: f.SetProbeFilter,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.kick = m.Kick
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{name: name, m: m, f: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	}()
	t.Cleanup(func() { n.stop(t) })
	return n
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", waitLimit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the member has run decide twice more, so that its
// verdicts reflect everything it had read before the call.
func settled(t *testing.T, n *node) {
	t.Helper()
	d := n.m.decisions.Load()
	n.m.Kick()
	waitFor(t, n.name+" decided again", func() bool {
		n.m.Kick()
		return n.m.decisions.Load() >= d+2
	})
}

func verdict(n *node, k check.Key) healthcheck.State {
	st, _ := n.m.Health().Get(k)
	return st.State
}

// sees reports whether n's tables hold inst's observation of k as s.
func sees(n *node, k check.Key, inst string, s healthcheck.State) bool {
	v, _ := n.m.Target(k)
	for _, o := range v.Observers {
		if o.Instance == inst {
			return o.State == s
		}
	}
	return false
}

func observers(n *node, k check.Key) []string {
	v, _ := n.m.Target(k)
	var out []string
	for _, o := range v.Observers {
		out = append(out, o.Instance+"="+o.State.String())
	}
	return out
}

func allConnected(t *testing.T, nodes ...*node) {
	t.Helper()
	waitFor(t, "every member connected and seeing all the others", func() bool {
		for _, n := range nodes {
			st := n.m.State()
			if !st.Connected || !st.Fresh || len(st.Instances) != len(nodes) {
				return false
			}
		}
		return true
	})
}

// TestMajority: with down_when majority, one member's broken path moves
// nobody; a majority seeing the outage moves everybody, and its end moves
// them back.
func TestMajority(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := testKeys(2)
	k, other := keys[0], keys[1]
	var nodes []*node
	for _, name := range []string{"a", "b", "c"} {
		nodes = append(nodes, startNode(t, srv, name, keys, fleetOptions{rule: Majority}))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	allConnected(t, a, b, c)
	for _, n := range nodes {
		waitFor(t, n.name+" sees three observers up", func() bool { return sees(n, k, "a", up) && sees(n, k, "b", up) && sees(n, k, "c", up) })
	}

	// a's path breaks: every member reads a's "down", and nobody moves.
	// a writes that once: one change, one put.
	settled(t, a)
	writes := a.m.State().Writes
	a.f.see(k, down)
	for _, n := range nodes {
		waitFor(t, n.name+" reads a's down", func() bool { return sees(n, k, "a", down) })
		settled(t, n)
		if v := verdict(n, k); v != up {
			t.Errorf("%s: verdict %s after one of three observers saw it down, want up (observers %v)", n.name, v, observers(n, k))
		}
	}
	if w := a.m.State().Writes - writes; w != 1 {
		t.Errorf("a made %d etcd writes for one change of its view, want 1", w)
	}
	if st := a.m.State(); st.Disagreements != 1 || st.DisagreementsTotal != 1 {
		t.Errorf("a's disagreements: %d now, %d in all; want 1 and 1", st.Disagreements, st.DisagreementsTotal)
	}
	if st, _ := a.m.Health().Get(k); st.LastError != "" {
		t.Errorf("a's fleet status of an up target carries the error %q", st.LastError)
	}

	// b sees it too: a majority; everybody moves, c included.
	b.f.see(k, down)
	for _, n := range nodes {
		waitFor(t, n.name+" takes the target down", func() bool { return verdict(n, k) == down })
	}
	if st, _ := c.m.Health().Get(k); !strings.Contains(st.LastError, "2 of 3 observers") {
		t.Errorf("c's reason for down: %q", st.LastError)
	}
	if st := c.m.State(); st.Disagreements != 1 {
		t.Errorf("c's disagreements: %d, want 1 (c sees it up)", st.Disagreements)
	}
	for _, n := range nodes {
		if v := verdict(n, other); v != up {
			t.Errorf("%s: the other target is %s", n.name, v)
		}
	}

	// The outage ends.
	a.f.see(k, up)
	b.f.see(k, up)
	for _, n := range nodes {
		waitFor(t, n.name+" brings the target back up", func() bool { return verdict(n, k) == up })
	}
	waitFor(t, "no disagreements left", func() bool {
		return a.m.State().Disagreements == 0 && b.m.State().Disagreements == 0 && c.m.State().Disagreements == 0
	})
}

// TestAnyAndAtLeast: with any, one member's down moves everybody; with a
// number, that many are needed.
func TestAnyAndAtLeast(t *testing.T) {
	srv := etcdtest.Start(t)
	k := testKeys(1)[0]
	var anyNodes, twoNodes []*node
	for _, name := range []string{"a", "b", "c"} {
		anyNodes = append(anyNodes, startNode(t, srv, name, []check.Key{k}, fleetOptions{rule: Any, prefix: "/any/"}))
		twoNodes = append(twoNodes, startNode(t, srv, name, []check.Key{k}, fleetOptions{rule: AtLeast(2), prefix: "/two/"}))
	}
	allConnected(t, anyNodes...)
	allConnected(t, twoNodes...)
	for _, n := range append(anyNodes, twoNodes...) {
		waitFor(t, n.name+" sees three observers", func() bool { return len(observers(n, k)) == 3 })
	}
	anyNodes[2].f.see(k, down)
	twoNodes[2].f.see(k, down)
	for _, n := range anyNodes {
		waitFor(t, n.name+" (any) takes the target down", func() bool { return verdict(n, k) == down })
	}
	for _, n := range twoNodes {
		waitFor(t, n.name+" (2) reads c's down", func() bool { return sees(n, k, "c", down) })
		settled(t, n)
		if v := verdict(n, k); v != up {
			t.Errorf("%s (2): verdict %s with one observer down, want up", n.name, v)
		}
	}
	twoNodes[0].f.see(k, down)
	for _, n := range twoNodes {
		waitFor(t, n.name+" (2) takes the target down", func() bool { return verdict(n, k) == down })
	}
}

// TestStoppedMemberStopsCounting: a member that stops (its lease revoked)
// or dies (its lease expires) no longer counts.
func TestStoppedMemberStopsCounting(t *testing.T) {
	srv := etcdtest.Start(t)
	k := testKeys(1)[0]
	a := startNode(t, srv, "a", []check.Key{k}, fleetOptions{})
	b := startNode(t, srv, "b", []check.Key{k}, fleetOptions{})
	c := startNode(t, srv, "c", []check.Key{k}, fleetOptions{})
	allConnected(t, a, b, c)
	a.f.see(k, down)
	c.f.see(k, down)
	waitFor(t, "b takes the target down with a and c", func() bool { return verdict(b, k) == down })

	// c stops: its observation goes with its lease; a alone against b is
	// no majority.
	c.stop(t)
	waitFor(t, "b forgets c", func() bool { return len(b.m.State().Instances) == 2 && !sees(b, k, "c", down) })
	waitFor(t, "b brings the target back up", func() bool { return verdict(b, k) == up })

	// A member that dies leaves its keys until its lease expires: write
	// one by hand, on a lease nobody renews.
	cli := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	lease, err := cli.Grant(ctx, int64(testTTL/time.Second))
	if err != nil {
		t.Fatal(err)
	}
	obs := Observation{State: down, Since: time.Now()}
	_, err = cli.Txn(ctx).Then(
		clientv3.OpPut("/meridian/instances/d", string(Instance{Version: "test", Started: time.Now()}.Marshal()), clientv3.WithLease(lease.ID)),
		clientv3.OpPut("/meridian/health/d/"+k.ID(), string(obs.Marshal()), clientv3.WithLease(lease.ID)),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b counts d's down", func() bool { return verdict(b, k) == down })
	waitFor(t, "d's lease expires and b stops counting it", func() bool { return verdict(b, k) == up && !sees(b, k, "d", down) })
}

// TestEtcdDown: with etcd gone, members keep their last state, then fall
// back to their own views when it expires; when etcd returns they
// reconverge, without restarts.
func TestEtcdDown(t *testing.T) {
	srv := etcdtest.Start(t)
	k := testKeys(1)[0]
	a := startNode(t, srv, "a", []check.Key{k}, fleetOptions{})
	b := startNode(t, srv, "b", []check.Key{k}, fleetOptions{})
	c := startNode(t, srv, "c", []check.Key{k}, fleetOptions{})
	allConnected(t, a, b, c)
	a.f.see(k, down)
	b.f.see(k, down)
	waitFor(t, "c takes the target down with a and b", func() bool { return verdict(c, k) == down })

	stopped := time.Now()
	srv.Stop()
	if v := verdict(c, k); v != down {
		t.Errorf("c's verdict %s right after etcd stopped, want the last state, down", v)
	}
	if time.Since(stopped) < testTTL/2 && !c.m.State().Fresh {
		t.Error("c gave up on the fleet's state at once")
	}
	waitFor(t, "c falls back to its own view", func() bool { return verdict(c, k) == up && !c.m.State().Fresh })
	st := c.m.State()
	if st.Connected || !strings.Contains(st.Detail(), "out of contact") {
		t.Errorf("c's state without etcd: connected %v, detail %q", st.Connected, st.Detail())
	}
	if verdict(a, k) != down || verdict(b, k) != down {
		t.Error("a and b, who see the target down, do not")
	}
	// c now sees the outage itself; a recovers on its own view.
	a.f.see(k, up)
	waitFor(t, "a follows its own view", func() bool { return verdict(a, k) == up })

	srv.Restart()
	allConnected(t, a, b, c)
	// The fleet again: b down, a and c up: no majority.
	b.f.see(k, down)
	for _, n := range []*node{a, b, c} {
		waitFor(t, n.name+" reads the fleet again", func() bool {
			return sees(n, k, "a", up) && sees(n, k, "b", down) && sees(n, k, "c", up)
		})
		waitFor(t, n.name+" decides with the fleet", func() bool { return verdict(n, k) == up })
	}
	c.f.see(k, down)
	for _, n := range []*node{a, b, c} {
		waitFor(t, n.name+" takes the target down with b and c", func() bool { return verdict(n, k) == down })
	}
	if !strings.Contains(c.m.State().Detail(), "connected") {
		t.Errorf("c's detail after reconnecting: %q", c.m.State().Detail())
	}
}

// TestMalformedValuesIgnored: values written to the prefix by hand that do
// not pass are ignored and counted, and change no verdict.
func TestMalformedValuesIgnored(t *testing.T) {
	srv := etcdtest.Start(t)
	k := testKeys(1)[0]
	a := startNode(t, srv, "a", []check.Key{k}, fleetOptions{})
	b := startNode(t, srv, "b", []check.Key{k}, fleetOptions{})
	allConnected(t, a, b)

	cli := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	bad := map[string]string{
		"/meridian/health/b/" + k.ID():   `{"state":"down"`, // b's own key, overwritten by hand
		"/meridian/health/x/" + k.ID():   strings.Repeat("x", MaxValueBytes+1),
		"/meridian/health/x/not-an-id":   `{"state":"down","since":"2026-12-06T03:00:00Z"}`,
		"/meridian/instances/x":          `{"version":1}`,
		"/meridian/instances/bad name":   `{}`,
		"/meridian/health/y/z/" + k.ID(): `{"state":"down","since":"2026-12-06T03:00:00Z"}`,
	}
	before := a.m.State().Malformed
	for key, v := range bad {
		if _, err := cli.Put(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	// An observation of the right form from an instance that is not
	// registered does not count either.
	if _, err := cli.Put(ctx, "/meridian/health/ghost/"+k.ID(), string(Observation{State: down, Since: time.Now()}.Marshal())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a counts every malformed value", func() bool { return a.m.State().Malformed >= before+uint64(len(bad)) })
	settled(t, a)
	if v := verdict(a, k); v != up {
		t.Errorf("a's verdict %s after malformed values, want up (observers %v)", v, observers(a, k))
	}
	// b notices its observation was overwritten and writes it again.
	waitFor(t, "b repairs its observation", func() bool { return sees(a, k, "b", up) })
	if got := observers(a, k); len(got) != 2 {
		t.Errorf("a's observers of the target: %v, want a and b", got)
	}
	if _, err := cli.Delete(ctx, "/meridian/instances/b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b registers again", func() bool {
		r, err := cli.Get(ctx, "/meridian/instances/b")
		return err == nil && len(r.Kvs) == 1
	})
	waitFor(t, "a counts b again", func() bool { return len(a.m.State().Instances) == 2 && sees(a, k, "b", up) })
	b.f.see(k, down)
	waitFor(t, "a reads b's next observation", func() bool { return sees(a, k, "b", down) })
}

// TestObserverAssignment: with observers 1 among three members, each
// target is probed by exactly one of them; when one leaves, its targets
// move to the others and the rest stay.
func TestObserverAssignment(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := testKeys(30)
	o := fleetOptions{observers: 1}
	nodes := []*node{startNode(t, srv, "a", keys, o), startNode(t, srv, "b", keys, o), startNode(t, srv, "c", keys, o)}
	allConnected(t, nodes...)

	probers := func(nodes []*node) (map[check.Key][]string, bool) {
		out := map[check.Key][]string{}
		exact := true
		for _, k := range keys {
			for _, n := range nodes {
				if n.f.probes(k) {
					out[k] = append(out[k], n.name)
				}
			}
			exact = exact && len(out[k]) == 1
		}
		return out, exact
	}
	var first map[check.Key][]string
	waitFor(t, "each target probed by exactly one member", func() bool {
		var ok bool
		first, ok = probers(nodes)
		return ok
	})
	for _, k := range keys {
		if want := Observers(k.ID(), []string{"a", "b", "c"}, 1); first[k][0] != want[0] {
			t.Errorf("%s is probed by %v, rendezvous hashing says %v", k, first[k], want)
		}
	}
	for _, n := range nodes {
		settled(t, n)
		for _, k := range keys {
			if v := verdict(n, k); v != up {
				t.Errorf("%s: %s is %s (observers %v)", n.name, k, v, observers(n, k))
			}
		}
	}

	nodes[2].stop(t)
	var after map[check.Key][]string
	waitFor(t, "c's targets move to a and b", func() bool {
		var ok bool
		after, ok = probers(nodes[:2])
		return ok
	})
	moved := 0
	for _, k := range keys {
		if first[k][0] == "c" {
			moved++
			continue
		}
		if after[k][0] != first[k][0] {
			t.Errorf("%s moved from %s to %s although c did not probe it", k, first[k][0], after[k][0])
		}
	}
	if moved == 0 {
		t.Error("c probed none of the 30 targets")
	}
	// A target is decided from its one observer by every member.
	k := keys[0]
	var observer *node
	for _, n := range nodes[:2] {
		if n.f.probes(k) {
			observer = n
		}
	}
	observer.f.see(k, down)
	for _, n := range nodes[:2] {
		waitFor(t, fmt.Sprintf("%s follows the observer %s", n.name, observer.name), func() bool { return verdict(n, k) == down })
	}
}

// TestNewSessionRewritesNothing: a session that ends while the lease
// lives on (a timeout under load, a watch error) is followed by one that
// finds this member's observations in place on that lease: it writes its
// registration again, and what changed meanwhile, not every observation.
func TestNewSessionRewritesNothing(t *testing.T) {
	srv := etcdtest.Start(t)
	keys := testKeys(20)
	f := newFakeChecker(keys)
	m, err := New(Options{
		Connection: Connection{Endpoints: []string{srv.Endpoint()}, Prefix: "/s/"},
		Instance:   "a",
		Rule:       Majority,
		LeaseTTL:   testTTL,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Own:        f.Status,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.kick = m.Kick
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.decideLoop(ctx)
	cli := srv.Client()
	stored := func() (n int) {
		resp, err := cli.Get(ctx, "/s/"+healthDir+"a/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs)
	}

	var lease clientv3.LeaseID
	sessionUntil := func(what string, cond func() bool) {
		sctx, end := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.session(sctx, cli, &lease)
		}()
		waitFor(t, what, cond)
		end()
		<-done
	}
	sessionUntil("every observation published", func() bool { return stored() == len(keys) })
	if lease == 0 {
		t.Fatal("no lease after the first session")
	}
	before := m.writes.Load()

	f.see(keys[0], down) // a change between the sessions
	sessionUntil("the change published", func() bool {
		resp, err := cli.Get(ctx, m.observationKey(keys[0].ID()))
		if err != nil || len(resp.Kvs) != 1 {
			return false
		}
		o, err := ParseObservation(resp.Kvs[0].Value)
		return err == nil && o.State == down
	})
	if got := m.writes.Load() - before; got != 2 {
		t.Errorf("the second session wrote %d operations, want 2 (the registration and the one change)", got)
	}
	if n := stored(); n != len(keys) {
		t.Errorf("%d observations stored, want %d", n, len(keys))
	}
}
