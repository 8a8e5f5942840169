package healthcheck

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// waitLimit bounds every wait in the tests.
const waitLimit = 5 * time.Second

var (
	loopback4    = netip.MustParseAddr("127.0.0.1")
	ipv6Loopback = netip.IPv6Loopback()
)

// harness runs a Manager for one test and records what its hooks report.
type harness struct {
	t           *testing.T
	m           *Manager
	transitions chan Transition
	results     chan keyResult
	cancel      context.CancelFunc
	done        chan struct{}
}

type keyResult struct {
	key check.Key
	res Result
}

// newHarness returns a Manager wired to buffered hook channels. Run is not
// started; call start.
func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{
		t:           t,
		transitions: make(chan Transition, 1024),
		results:     make(chan keyResult, 1024),
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts.OnTransition = func(tr Transition) {
		select {
		case h.transitions <- tr:
		default:
		}
	}
	opts.OnResult = func(k check.Key, r Result) {
		select {
		case h.results <- keyResult{k, r}:
		default:
		}
	}
	h.m = NewManager(opts)
	return h
}

// start runs the Manager until the test ends.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.m.Run(ctx); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}()
	h.t.Cleanup(h.stop)
}

// stop ends Run and waits for it to return.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(waitLimit):
		h.t.Errorf("Run did not return within %s of cancel", waitLimit)
	}
	h.cancel = nil
}

// waitTransition waits for the next transition of key and checks its target
// state.
func (h *harness) waitTransition(key check.Key, to State) Transition {
	h.t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case tr := <-h.transitions:
			if tr.Key != key {
				continue
			}
			if tr.To != to {
				h.t.Fatalf("transition of %s to %s (%s), want to %s", key, tr.To, tr.Reason, to)
			}
			return tr
		case <-deadline:
			h.t.Fatalf("no transition of %s to %s within %s", key, to, waitLimit)
			return Transition{}
		}
	}
}

// waitResults waits for n results of key and returns them.
func (h *harness) waitResults(key check.Key, n int) []Result {
	h.t.Helper()
	var out []Result
	deadline := time.After(waitLimit)
	for len(out) < n {
		select {
		case kr := <-h.results:
			if kr.key == key {
				out = append(out, kr.res)
			}
		case <-deadline:
			h.t.Fatalf("got %d results of %s within %s, want %d", len(out), key, waitLimit, n)
		}
	}
	return out
}

// tcpServer accepts connections on a loopback listener and closes them,
// counting each.
type tcpServer struct {
	ln    net.Listener
	hits  atomic.Int64
	wg    sync.WaitGroup
	close sync.Once
}

func listenTCP(t testing.TB, addr string) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &tcpServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.hits.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close stops the listener and waits for its accept loop.
func (s *tcpServer) Close() {
	s.close.Do(func() {
		s.ln.Close()
		s.wg.Wait()
	})
}

func (s *tcpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// hangingListener accepts connections and never answers on them, so a
// probe that waits for a reply runs into its timeout.
func hangingListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// portOf returns the port of a "host:port" or URL host.
func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("split %q: %v", hostPort, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("port %q: %v", p, err)
	}
	return n
}
