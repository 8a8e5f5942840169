//go:build unix

package healthcheck

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// cpuTime returns the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkProbeTCP measures one TCP probe against a loopback listener in
// the same process, so the CPU per probe includes the accepting side.
func BenchmarkProbeTCP(b *testing.B) {
	srv := listenTCP(b, "127.0.0.1:0")
	p := &tcpProber{addr: fmt.Sprintf("127.0.0.1:%d", srv.port())}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		if r := runProbe(ctx, p, time.Second); !r.OK {
			b.Fatalf("probe failed: %v", r.Err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/probe")
}

// benchTargets listens on n loopback ports, spread over a few 127.0.0.x
// addresses where the system routes them to loopback (Linux does), and
// returns a TCP target for each.
func benchTargets(b *testing.B, n int, interval, timeout time.Duration) []check.Target {
	b.Helper()
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	for _, s := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		ln, err := net.Listen("tcp", s+":0")
		if err != nil {
			break
		}
		ln.Close()
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	targets := make([]check.Target, 0, n)
	for i := range n {
		addr := addrs[i%len(addrs)]
		srv := listenTCP(b, netip.AddrPortFrom(addr, 0).String())
		targets = append(targets, check.Target{
			Spec:    check.Spec{Type: check.TCP, Port: srv.port(), Interval: interval, Timeout: timeout},
			Address: addr,
		})
	}
	return targets
}

// BenchmarkScheduler2000 runs the Manager over 2000 loopback TCP targets,
// each probed every 500ms (4000 probes a second, the load of 40000 targets
// at the default 10s interval), until b.N probes have completed. It reports
// the process CPU time per probe (scheduler, probe, state, publishing and
// the in-process listeners together), the probe rate reached, and the share
// of probes that failed, which on loopback means the process could not keep
// up.
func BenchmarkScheduler2000(b *testing.B) {
	const (
		n        = 2000
		interval = 500 * time.Millisecond
	)
	targets := benchTargets(b, n, interval, 400*time.Millisecond)
	var probes, failures atomic.Int64
	var firstErr atomic.Value
	done := make(chan struct{})
	want := int64(b.N)
	m := NewManager(Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnResult: func(_ check.Key, r Result) {
			if !r.OK {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, r.Err.Error())
			}
			if probes.Add(1) == want {
				close(done)
			}
		},
	})
	if err := m.SetTargets(targets); err != nil {
		b.Fatalf("SetTargets: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})

	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	go func() {
		defer close(stopped)
		if err := m.Run(ctx); err != nil {
			b.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Errorf("only %d of %d probes within 2 minutes", probes.Load(), want)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	cancel()
	<-stopped

	if f := failures.Load(); f > 0 {
		b.Logf("%d of %d probes failed, the first with %v", f, probes.Load(), firstErr.Load())
	}
	b.ReportMetric(float64(failures.Load())/float64(probes.Load()), "failed/probe")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/probe")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cpu-cores")
}

// BenchmarkSetTargetsReload measures a zone reload that hands the Manager
// the same 2000 targets again.
func BenchmarkSetTargetsReload(b *testing.B) {
	targets := make([]check.Target, 2000)
	for i := range targets {
		targets[i] = check.Target{
			Spec:    check.Spec{Type: check.HTTP, Port: 8000 + i%50, Path: "/healthz", Host: "www.example.com"},
			Address: netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)}),
		}
	}
	m := NewManager(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.SetTargets(targets); err != nil {
		b.Fatalf("SetTargets: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := m.SetTargets(targets); err != nil {
			b.Fatalf("SetTargets: %v", err)
		}
	}
}

// BenchmarkStatusGet measures what the DNS answer path pays to read one
// endpoint's health.
func BenchmarkStatusGet(b *testing.B) {
	targets := make([]check.Target, 2000)
	for i := range targets {
		targets[i] = check.Target{
			Spec:    check.Spec{Type: check.TCP, Port: 443},
			Address: netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)}),
		}
	}
	m := NewManager(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := m.SetTargets(targets); err != nil {
		b.Fatalf("SetTargets: %v", err)
	}
	key := targets[1234].Key()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := m.Status().Get(key); !ok {
			b.Fatal("key missing")
		}
	}
}
