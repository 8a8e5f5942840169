package healthcheck_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// A Manager probes the targets of every zone and publishes their health.
func ExampleManager() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	m := healthcheck.NewManager(healthcheck.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	target := check.Target{
		Spec:    check.Spec{Name: "smtp", Type: check.TCP, Port: ln.Addr().(*net.TCPAddr).Port, Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond},
		Address: netip.MustParseAddr("127.0.0.1"),
	}
	if err := m.SetTargets([]check.Target{target}); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	if err := m.WaitReady(ctx); err != nil {
		fmt.Println(err)
	}
	st, _ := m.Status().Get(target.Key())
	fmt.Println(st.State)
	cancel()
	fmt.Println(<-done)
	// Output:
	// up
	// <nil>
}
