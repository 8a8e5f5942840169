package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/zones"
)

// reloadEvent is one call of Store.OnReload.
type reloadEvent struct {
	changed bool
	err     error
}

// reloadHarness is a zone store over a private copy of the demo zones, its
// watcher, and a DNS server answering from it on 127.0.0.1.
type reloadHarness struct {
	store   *zones.Store
	handler *server.Handler
	addr    string
	zone    string // path of example.com.yaml
	src     string // its original content
	events  chan reloadEvent
	// watchDone is closed when Watch returns, and watchErr is what it
	// returned.
	watchDone chan struct{}
	watchErr  error
}

func newReloadHarness(t *testing.T) *reloadHarness {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "zones")
	copyDir(t, filepath.Join(moduleRoot, "testdata", "demo", "zones"), dir)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := zones.NewStore(dir, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := &reloadHarness{store: store, zone: filepath.Join(dir, "example.com.yaml"), events: make(chan reloadEvent, 64)}
	b, err := os.ReadFile(h.zone)
	if err != nil {
		t.Fatal(err)
	}
	h.src = string(b)

	h.handler = server.NewHandler(store.Pointer(), nil, server.Options{ServerID: serverID}, logger)
	srv := server.New(server.Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 2}, h.handler, logger)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	h.addr = srv.Addrs()[0].String()

	ctx, cancel := context.WithCancel(context.Background())
	h.watchDone = make(chan struct{})
	// The watcher must never block on a test that has stopped listening.
	store.OnReload = func(changed bool, err error) {
		select {
		case h.events <- reloadEvent{changed, err}:
		case <-ctx.Done():
		}
	}
	go func() {
		defer close(h.watchDone)
		h.watchErr = store.Watch(ctx, 20*time.Millisecond)
	}()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		<-h.watchDone
		if n := h.handler.Panics.Load(); n != 0 {
			t.Errorf("handler recovered from %d panics", n)
		}
	})
	return h
}

// mailZone returns the zone file with mail.example.com A set to addr, or
// with a record the parser rejects when addr is "".
func (h *reloadHarness) mailZone(addr string) []byte {
	if addr == "" {
		return []byte(strings.Replace(h.src, mailLine, brokenLine, 1))
	}
	return []byte(strings.Replace(h.src, mailLine, "mail       IN A      "+addr, 1))
}

// servedMail returns the addresses of mail.example.com A in the store's
// current snapshot.
func (h *reloadHarness) servedMail() []string {
	var out []string
	for _, rr := range h.store.Current().Lookup("mail.example.com.", dns.TypeA).Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// waitReload waits, up to timeout, for a reload event that ok accepts,
// skipping the others (bursts of file events may cause reloads that find
// nothing new).
func (h *reloadHarness) waitReload(timeout time.Duration, ok func(reloadEvent) bool) (reloadEvent, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-h.events:
			if ok(ev) {
				return ev, nil
			}
		case <-deadline.C:
			return reloadEvent{}, fmt.Errorf("no matching reload within %v", timeout)
		}
	}
}

// setMail writes the zone with mail.example.com A addr and waits until the
// store serves it.
func (h *reloadHarness) setMail(t *testing.T, addr string) {
	t.Helper()
	writeAtomic(t, h.zone, h.mailZone(addr))
	_, err := h.waitReload(5*time.Second, func(ev reloadEvent) bool {
		served := h.servedMail()
		return ev.err == nil && ev.changed && len(served) == 1 && served[0] == addr
	})
	if err != nil {
		t.Fatalf("setting mail.example.com A %s: %v (serving %v)", addr, err, h.servedMail())
	}
}

// breakZone writes a zone the loader rejects and waits for the failed
// reload, which must name the file and line.
func (h *reloadHarness) breakZone(t *testing.T) {
	t.Helper()
	writeAtomic(t, h.zone, h.mailZone(""))
	ev, err := h.waitReload(5*time.Second, func(ev reloadEvent) bool { return ev.err != nil })
	if err != nil {
		t.Fatalf("breaking the zone: %v", err)
	}
	if !strings.Contains(ev.err.Error(), h.zone+":") {
		t.Errorf("reload error does not name %s: %v", h.zone, ev.err)
	}
	if ev.changed {
		t.Errorf("a failed reload reported a change")
	}
}

// waitWatching rewrites the zone until the watcher reports a reload: the
// watcher gives no signal when it has started watching, so the first write
// may come too early to be seen. Each write is the same change, so
// rewriting it is harmless.
func (h *reloadHarness) waitWatching(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		writeAtomic(t, h.zone, h.mailZone(addr))
		_, err := h.waitReload(200*time.Millisecond, func(ev reloadEvent) bool {
			served := h.servedMail()
			return ev.err == nil && len(served) == 1 && served[0] == addr
		})
		if err == nil {
			return
		}
		select {
		case <-h.watchDone:
			t.Fatalf("the zone watcher stopped: %v", h.watchErr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the zone watcher never reloaded: serving %v", h.servedMail())
		}
	}
}

// queryStats counts the outcomes of the queries sent during a reload run.
type queryStats struct {
	// answering is closed when the first good answer arrives.
	answering chan struct{}
	once      sync.Once

	mu       sync.Mutex
	ok       int
	timeouts int
	failures []string // first few unexpected outcomes, for the message
	bad      int
}

func newQueryStats() *queryStats { return &queryStats{answering: make(chan struct{})} }

// waitAnswering waits until a client has had a good answer, so that the
// changes that follow happen while queries are flowing.
func (s *queryStats) waitAnswering(t *testing.T) {
	t.Helper()
	select {
	case <-s.answering:
	case <-time.After(5 * time.Second):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("no client got an answer within 5s: %q", s.failures)
	}
}

func (s *queryStats) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bad++
	if len(s.failures) < 10 {
		s.failures = append(s.failures, fmt.Sprintf(format, args...))
	}
}

// queryLoop asks for mail.example.com A until stop is closed or max queries
// have been sent, and checks that every reply is NOERROR with exactly one A
// record holding one of the allowed addresses.
func queryLoop(addr string, allowed map[string]bool, max int, stop <-chan struct{}, stats *queryStats) {
	// A query lost on loopback is a timeout whatever the limit; a generous
	// one keeps a loaded machine from turning slowness into failures.
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	for i := 0; i < max; i++ {
		select {
		case <-stop:
			return
		default:
		}
		m := new(dns.Msg)
		m.SetQuestion("mail.example.com.", dns.TypeA)
		r, _, err := c.Exchange(m, addr)
		var nerr net.Error
		switch {
		case errors.As(err, &nerr) && nerr.Timeout():
			stats.mu.Lock()
			stats.timeouts++
			stats.mu.Unlock()
			continue
		case err != nil:
			stats.fail("exchange: %v", err)
			continue
		case r.Rcode != dns.RcodeSuccess:
			stats.fail("rcode %s", dns.RcodeToString[r.Rcode])
			continue
		case !r.Authoritative || r.Truncated:
			stats.fail("flags aa=%v tc=%v", r.Authoritative, r.Truncated)
			continue
		case len(r.Answer) != 1:
			stats.fail("%d answers: %v", len(r.Answer), r.Answer)
			continue
		}
		a, isA := r.Answer[0].(*dns.A)
		if !isA || !allowed[a.A.String()] {
			stats.fail("unexpected answer %v", r.Answer[0])
			continue
		}
		stats.mu.Lock()
		stats.ok++
		stats.mu.Unlock()
		stats.once.Do(func() { close(stats.answering) })
	}
}

// TestReloadUnderLoad rewrites a zone file many times, renaming each version
// into place, while several clients query the name being changed. Every
// query must be answered from a complete snapshot: NOERROR with exactly one
// of the two addresses, never a timeout, SERVFAIL or empty answer, and a
// broken version must leave the previous answers serving.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	const (
		clients  = 4
		rewrites = 30
		// maxQueries bounds each client in case the rewrites run slowly.
		maxQueries = 20000
	)
	values := [2]string{"192.0.2.25", "192.0.2.26"}
	h := newReloadHarness(t)
	h.waitWatching(t, values[1])

	stats := newQueryStats()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queryLoop(h.addr, map[string]bool{values[0]: true, values[1]: true}, maxQueries, stop, stats)
		}()
	}
	stopped := false
	stopClients := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopClients()
	stats.waitAnswering(t)

	serving := values[1]
	for i := range rewrites {
		if i%10 == 5 {
			h.breakZone(t)
			if got := h.servedMail(); len(got) != 1 || got[0] != serving {
				t.Fatalf("after a broken write the store serves %v, want [%s]", got, serving)
			}
			continue
		}
		next := values[0]
		if serving == values[0] {
			next = values[1]
		}
		h.setMail(t, next)
		serving = next
	}
	stopClients()

	stats.mu.Lock()
	defer stats.mu.Unlock()
	t.Logf("%d queries answered during %d rewrites", stats.ok, rewrites)
	if stats.bad > 0 || stats.timeouts > 0 {
		t.Errorf("%d unexpected replies and %d timeouts among %d good answers; first: %q",
			stats.bad, stats.timeouts, stats.ok, stats.failures)
	}
	if stats.ok < clients {
		t.Errorf("only %d queries were answered: the clients did not run during the reloads", stats.ok)
	}
}

// TestBrokenReloadKeepsServing writes an invalid zone file while a client is
// querying, and checks the failure is reported with the file and line while
// every answer stays the last good one; a fixed file is then picked up.
func TestBrokenReloadKeepsServing(t *testing.T) {
	t.Parallel()
	h := newReloadHarness(t)
	h.waitWatching(t, "192.0.2.26")

	stats := newQueryStats()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		queryLoop(h.addr, map[string]bool{"192.0.2.26": true}, 20000, stop, stats)
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	stats.waitAnswering(t)

	h.breakZone(t)
	lines := strings.Split(h.src, "\n")
	want := ""
	for i, l := range lines {
		if strings.Contains(l, mailLine) {
			want = fmt.Sprintf("%s:%d:", h.zone, i+1)
		}
	}
	if !h.store.Current().Lookup("docs.example.com.", dns.TypeA).Authoritative {
		t.Errorf("the served snapshot lost docs.example.com after a broken write")
	}
	// A second event on the same broken content must not change anything.
	if _, err := h.store.Reload(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Reload of the broken file: %v, want an error naming %s", err, want)
	}
	close(stop)
	<-done

	m := new(dns.Msg)
	m.SetQuestion("mail.example.com.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 2 * time.Second}).Exchange(m, h.addr)
	if err != nil {
		t.Fatalf("after the broken write: %v", err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("after the broken write: %v, want one answer 192.0.2.26", r)
	}
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != "192.0.2.26" {
		t.Fatalf("after the broken write: %v, want 192.0.2.26", r.Answer[0])
	}
	h.setMail(t, "192.0.2.27")

	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.bad > 0 || stats.timeouts > 0 || stats.ok == 0 {
		t.Errorf("while broken: %d good answers, %d unexpected, %d timeouts; first: %q",
			stats.ok, stats.bad, stats.timeouts, stats.failures)
	}
}
