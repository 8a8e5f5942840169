package healthcheck

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/internal/syncbuf"
)

func TestManagerTCPDownAndUpAgain(t *testing.T) {
	srv := listenTCP(t, "127.0.0.1:0")
	port := srv.port()
	var logs syncbuf.Buffer
	h := newHarness(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	target := check.Target{Spec: check.Spec{Name: "ssh", Type: check.TCP, Port: port, Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, Rise: 2, Fall: 2}, Address: loopback4}
	key := target.Key()
	if err := h.m.SetTargets([]check.Target{target}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	if st, ok := h.m.Status().Get(key); !ok || st.State != StateUnknown {
		t.Fatalf("before Run: status %+v, %v; want unknown", st, ok)
	}
	h.start()

	tr := h.waitTransition(key, StateUp)
	if tr.From != StateUnknown || !strings.HasPrefix(tr.Reason, "probe succeeded in ") || tr.Target.Spec.Name != "ssh" {
		t.Errorf("first transition = %+v", tr)
	}

	srv.Close()
	tr = h.waitTransition(key, StateDown)
	if tr.From != StateUp || !strings.Contains(tr.Reason, "2 consecutive failures, last: ") || !strings.Contains(tr.Reason, "connection refused") {
		t.Errorf("down transition = %+v", tr)
	}
	st, _ := h.m.Status().Get(key)
	if st.State != StateDown || !strings.Contains(st.LastError, "connection refused") || st.Transitions != 2 {
		t.Errorf("status while down = %+v", st)
	}

	listenTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	tr = h.waitTransition(key, StateUp)
	if tr.From != StateDown || !strings.HasPrefix(tr.Reason, "2 consecutive successes") {
		t.Errorf("up transition = %+v", tr)
	}
	st, _ = h.m.Status().Get(key)
	if st.State != StateUp || st.LastError != "" || st.Transitions != 3 || !st.Since.Equal(tr.At) {
		t.Errorf("status after recovery = %+v (transition at %v)", st, tr.At)
	}

	h.stop()
	for _, want := range []string{
		`level=INFO msg="endpoint health changed" target=tcp://127.0.0.1:` + fmt.Sprint(port) + ` from=unknown to=up reason="probe succeeded in`,
		`level=WARN msg="endpoint health changed" target=tcp://127.0.0.1:` + fmt.Sprint(port) + ` from=up to=down reason="2 consecutive failures`,
		`level=INFO msg="endpoint health changed" target=tcp://127.0.0.1:` + fmt.Sprint(port) + ` from=down to=up reason="2 consecutive successes`,
	} {
		if n := strings.Count(logs.String(), want); n != 1 {
			t.Errorf("log has %d lines with %q, want 1:\n%s", n, want, logs.String())
		}
	}
}

// scriptedHTTP serves the statuses of a script in order, then 200 forever.
type scriptedHTTP struct {
	mu     sync.Mutex
	script []int
	hits   atomic.Int64
}

func (s *scriptedHTTP) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	code := http.StatusOK
	if len(s.script) > 0 {
		code, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	w.WriteHeader(code)
}

func TestManagerHysteresisOnFlappingTarget(t *testing.T) {
	script := []int{200, 500, 500, 200, 500, 500, 500, 200, 500, 200, 200, 500, 200}
	handler := &scriptedHTTP{script: append([]int(nil), script...)}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)

	h := newHarness(t, Options{})
	target := check.Target{Spec: check.Spec{Type: check.HTTP, Port: portOf(t, srv.Listener.Addr().String()),
		Interval: 50 * time.Millisecond, Timeout: 45 * time.Millisecond, Rise: 2, Fall: 3}, Address: loopback4}
	key := target.Key()
	if err := h.m.SetTargets([]check.Target{target}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	h.start()
	results := h.waitResults(key, len(script))
	h.stop()

	for i, r := range results {
		if want := script[i] == 200; r.OK != want {
			t.Fatalf("result %d: OK=%v (%v), want %v", i, r.OK, r.Err, want)
		}
	}
	var got []string
	for len(h.transitions) > 0 {
		tr := <-h.transitions
		got = append(got, tr.From.String()+"->"+tr.To.String())
	}
	// First 200 decides up; three 500s in a row take it down; a lone 200
	// does not bring it back; two in a row do; the final lone 500 does not
	// take it down.
	want := []string{"unknown->up", "up->down", "down->up"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("transitions = %v, want %v", got, want)
	}
	st, _ := h.m.Status().Get(key)
	if st.State != StateUp || st.Transitions != 3 {
		t.Errorf("final status = %+v, want up after 3 transitions", st)
	}
}

func TestManagerProbesSharedKeyOnce(t *testing.T) {
	srv := httptest.NewServer(&scriptedHTTP{})
	t.Cleanup(srv.Close)
	handler := srv.Config.Handler.(*scriptedHTTP)
	port := portOf(t, srv.Listener.Addr().String())

	h := newHarness(t, Options{})
	// Three services use the same check on the same address, spelled
	// three ways.
	targets := []check.Target{
		{Spec: check.Spec{Name: "web", Type: check.HTTP, Port: port, Path: "/", Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond}, Address: loopback4},
		{Spec: check.Spec{Name: "web-copy", Type: check.HTTP, Port: port, Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond, Rise: 2, Fall: 3}, Address: loopback4},
		{Spec: check.Spec{Name: "web", Type: check.HTTP, Port: port, Path: "/", Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond}, Address: loopback4},
	}
	if err := h.m.SetTargets(targets); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	if n := h.m.Status().Len(); n != 1 {
		t.Fatalf("Status has %d targets, want 1", n)
	}
	h.start()
	key := targets[0].Key()
	h.waitResults(key, 5)
	h.stop()

	results := 5
	for len(h.results) > 0 {
		kr := <-h.results
		if kr.key != key {
			t.Errorf("result for unexpected key %s", kr.key)
		}
		results++
	}
	// A probe cancelled by stop may have reached the server without
	// producing a result.
	if hits := int(handler.hits.Load()); hits < results || hits > results+1 {
		t.Errorf("server saw %d requests for %d results, want one request per result", hits, results)
	}
}

func TestManagerSetTargetsKeepsState(t *testing.T) {
	srvA := listenTCP(t, "127.0.0.1:0")
	srvB := listenTCP(t, "127.0.0.1:0")
	spec := func(port int) check.Spec {
		return check.Spec{Type: check.TCP, Port: port, Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond}
	}
	a := check.Target{Spec: spec(srvA.port()), Address: loopback4}
	b := check.Target{Spec: spec(srvB.port()), Address: loopback4}

	h := newHarness(t, Options{})
	if err := h.m.SetTargets([]check.Target{a}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	h.start()
	h.waitTransition(a.Key(), StateUp)
	before, _ := h.m.Status().Get(a.Key())

	// A reload that adds b keeps a's state.
	if err := h.m.SetTargets([]check.Target{b, a}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	after, ok := h.m.Status().Get(a.Key())
	if !ok || after.State != StateUp || !after.Since.Equal(before.Since) || after.Transitions != 1 {
		t.Errorf("a after reload = %+v, want the state from before %+v", after, before)
	}
	if st, ok := h.m.Status().Get(b.Key()); !ok || st.State != StateUnknown {
		t.Errorf("b right after being added = %+v, %v; want unknown", st, ok)
	}
	h.waitTransition(b.Key(), StateUp)

	// A reload that drops a stops probing it.
	if err := h.m.SetTargets([]check.Target{b}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	if _, ok := h.m.Status().Get(a.Key()); ok {
		t.Error("a is still in Status after being removed")
	}
	for len(h.results) > 0 {
		<-h.results
	}
	hitsA := srvA.hits.Load()
	h.waitResults(b.Key(), 3)
	for len(h.results) > 0 {
		if kr := <-h.results; kr.key == a.Key() {
			t.Error("a was probed after being removed")
		}
	}
	// At most one probe of a that was in flight during SetTargets.
	if extra := srvA.hits.Load() - hitsA; extra > 1 {
		t.Errorf("a's server saw %d connections after a was removed", extra)
	}

	// An invalid reload changes nothing.
	bad := check.Target{Spec: check.Spec{Type: check.TCP}, Address: loopback4}
	if err := h.m.SetTargets([]check.Target{a, bad}); err == nil || !strings.Contains(err.Error(), "port 1..65535 is required") {
		t.Errorf("SetTargets with an invalid target: error %v", err)
	}
	if _, ok := h.m.Status().Get(a.Key()); ok {
		t.Error("a failed SetTargets added a target")
	}
	if _, ok := h.m.Status().Get(b.Key()); !ok {
		t.Error("a failed SetTargets removed a target")
	}
}

func TestManagerReady(t *testing.T) {
	t.Run("after every first result", func(t *testing.T) {
		srv := listenTCP(t, "127.0.0.1:0")
		h := newHarness(t, Options{StartupGrace: time.Hour})
		targets := []check.Target{
			{Spec: check.Spec{Type: check.TCP, Port: srv.port(), Interval: 50 * time.Millisecond, Timeout: 20 * time.Millisecond}, Address: loopback4},
			{Spec: check.Spec{Type: check.HTTP, Port: srv.port(), Interval: 50 * time.Millisecond, Timeout: 20 * time.Millisecond}, Address: loopback4},
		}
		if err := h.m.SetTargets(targets); err != nil {
			t.Fatalf("SetTargets: %v", err)
		}
		if h.m.Ready() {
			t.Fatal("Ready before Run")
		}
		h.start()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := h.m.WaitReady(ctx); err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
		for _, tg := range targets {
			if st, _ := h.m.Status().Get(tg.Key()); st.State == StateUnknown {
				t.Errorf("ready while %s is unknown", tg.Key())
			}
		}
	})

	t.Run("after the startup grace", func(t *testing.T) {
		port := hangingListener(t)
		h := newHarness(t, Options{StartupGrace: 50 * time.Millisecond})
		target := check.Target{Spec: check.Spec{Type: check.HTTP, Port: port, Interval: time.Minute, Timeout: 30 * time.Second}, Address: loopback4}
		if err := h.m.SetTargets([]check.Target{target}); err != nil {
			t.Fatalf("SetTargets: %v", err)
		}
		h.start()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		start := time.Now()
		if err := h.m.WaitReady(ctx); err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("ready after %v, want about the 50ms grace", elapsed)
		}
		if st, _ := h.m.Status().Get(target.Key()); st.State != StateUnknown {
			t.Errorf("status = %+v, want unknown while the probe hangs", st)
		}
	})

	t.Run("without targets", func(t *testing.T) {
		h := newHarness(t, Options{StartupGrace: time.Hour})
		h.start()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := h.m.WaitReady(ctx); err != nil {
			t.Fatalf("WaitReady: %v", err)
		}
	})

	t.Run("wait ends with its context", func(t *testing.T) {
		m := NewManager(Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.WaitReady(ctx); err == nil {
			t.Error("WaitReady returned nil on a cancelled context before Run")
		}
	})
}

func TestManagerPublishesLatencyAndLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Load", "0.75")
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, Options{PublishDelay: time.Millisecond})
	target := check.Target{Spec: check.Spec{Type: check.HTTP, Port: portOf(t, srv.Listener.Addr().String()), LoadHeader: "X-Load",
		Interval: 50 * time.Millisecond, Timeout: 45 * time.Millisecond}, Address: loopback4}
	if err := h.m.SetTargets([]check.Target{target}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	h.start()
	results := h.waitResults(target.Key(), 4)
	h.stop()

	want := results[0].Latency
	for _, r := range results[1:] {
		want = time.Duration(0.3*float64(r.Latency) + 0.7*float64(want))
	}
	// Stopping publishes what is pending; a result after the fourth may
	// have been applied before the stop, so replay any that arrived.
	for len(h.results) > 0 {
		r := (<-h.results).res
		want = time.Duration(0.3*float64(r.Latency) + 0.7*float64(want))
	}
	st, _ := h.m.Status().Get(target.Key())
	if st.Load != 0.75 {
		t.Errorf("load = %v, want 0.75", st.Load)
	}
	if diff := st.Latency - want; diff < -time.Microsecond || diff > time.Microsecond {
		t.Errorf("latency = %v, want the EWMA %v", st.Latency, want)
	}
	if st.LastProbe.IsZero() || st.State != StateUp {
		t.Errorf("status = %+v", st)
	}
}

func TestManagerRunTwice(t *testing.T) {
	h := newHarness(t, Options{})
	h.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first Run may not have taken the lock yet; wait until it has.
	if err := h.m.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if err := h.m.Run(ctx); err == nil {
		t.Error("second concurrent Run returned nil")
	}
}

func TestManagerIPv6Target(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	srv := listenTCP(t, "[::1]:0")
	h := newHarness(t, Options{})
	target := check.Target{Spec: check.Spec{Type: check.TCP, Port: srv.port(), Interval: 30 * time.Millisecond, Timeout: 20 * time.Millisecond}, Address: ipv6Loopback}
	if err := h.m.SetTargets([]check.Target{target}); err != nil {
		t.Fatalf("SetTargets: %v", err)
	}
	h.start()
	h.waitTransition(target.Key(), StateUp)
	if got := target.Key().String(); !strings.HasPrefix(got, "tcp://[::1]:") {
		t.Errorf("key = %q", got)
	}
}
