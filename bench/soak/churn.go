package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// checkAddrs are the loopback addresses of the api endpoints' health
// checks: us-east (steady), eu-west (answers 200 and 500 in turn), ap-south
// (its listener is closed and reopened) and sa-east (steady).
var checkAddrs = []string{"127.0.0.41", "127.0.0.42", "127.0.0.43", "127.0.0.44"}

// Indexes into checkAddrs of the targets the soak flaps.
const (
	toggledTarget = 1
	closedTarget  = 2
)

// healthTarget is one HTTP health-check listener on a loopback address.
type healthTarget struct {
	addr    string
	healthy atomic.Bool

	mu  sync.Mutex
	srv *http.Server
}

// ServeHTTP answers 200 while the target is healthy and 500 otherwise.
func (t *healthTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if t.healthy.Load() {
		w.Write([]byte("ok\n"))
		return
	}
	http.Error(w, "unhealthy", http.StatusInternalServerError)
}

// open starts listening; it does nothing when the target is open already.
func (t *healthTarget) open() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", t.addr)
	if err != nil {
		return err
	}
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 2 * time.Second}
	go t.srv.Serve(ln)
	return nil
}

// close stops listening and drops open connections.
func (t *healthTarget) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.srv != nil {
		t.srv.Close()
		t.srv = nil
	}
}

// healthTargets are the api service's check targets, all on one port.
type healthTargets struct {
	port    int
	targets []*healthTarget
}

// startHealthTargets opens an HTTP listener on each of addrs, all on the same
// port (the check's port is per service, not per endpoint). The port is
// chosen by the first listener; if it is taken on another address, it tries
// again with a new one.
func startHealthTargets(addrs []string) (*healthTargets, error) {
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(addrs[0], "0"))
		if err != nil {
			return nil, fmt.Errorf("health target %s: %w", addrs[0], err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		h := &healthTargets{port: port}
		for _, a := range addrs {
			t := &healthTarget{addr: net.JoinHostPort(a, strconv.Itoa(port))}
			t.healthy.Store(true)
			h.targets = append(h.targets, t)
		}
		if lastErr = h.openAll(); lastErr == nil {
			return h, nil
		}
		h.closeAll()
	}
	return nil, fmt.Errorf("health targets: no port free on all of %v: %w", addrs, lastErr)
}

func (h *healthTargets) openAll() error {
	for _, t := range h.targets {
		if err := t.open(); err != nil {
			return err
		}
	}
	return nil
}

func (h *healthTargets) closeAll() {
	for _, t := range h.targets {
		t.close()
	}
}

// churn counts what the soak changed under the running server.
type churn struct {
	zoneRewrites      atomic.Int64
	healthFlaps       atomic.Int64
	geoipReplacements atomic.Int64

	mu   sync.Mutex
	errs []error
}

func (c *churn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, err)
	}
}

func (c *churn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.errs...)
}

// every calls f every period until ctx ends. The caller bounds ctx.
func every(ctx context.Context, wg *sync.WaitGroup, period time.Duration, f func(n int)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(n)
			}
		}
	}()
}

// run changes the zone, the health targets and the GeoIP database under the
// server until ctx ends, and returns once every change has stopped, with the
// health targets all open and healthy again.
func (c *churn) run(ctx context.Context, l layout, h *healthTargets, addrs []string) {
	var wg sync.WaitGroup
	every(ctx, &wg, time.Second, func(n int) {
		zone, err := renderZone(n, h.port, addrs)
		if err == nil {
			err = writeFileAtomic(l.ZoneFile, zone)
		}
		if err != nil {
			c.fail(fmt.Errorf("zone rewrite %d: %w", n, err))
			return
		}
		c.zoneRewrites.Add(1)
	})
	toggled := h.targets[toggledTarget]
	every(ctx, &wg, 2*time.Second, func(int) {
		toggled.healthy.Store(!toggled.healthy.Load())
		c.healthFlaps.Add(1)
	})
	closed := h.targets[closedTarget]
	every(ctx, &wg, 5*time.Second, func(n int) {
		if n%2 == 1 {
			closed.close()
		} else if err := closed.open(); err != nil {
			c.fail(fmt.Errorf("reopening health target %s: %w", closed.addr, err))
			return
		}
		c.healthFlaps.Add(1)
	})
	every(ctx, &wg, 10*time.Second, func(n int) {
		// Alternate between the demo database and its twin with another
		// build time, so that each replacement changes the content.
		src := l.GeoIPAlt
		if n%2 == 0 {
			src = l.GeoIPDemo
		}
		tmp := filepath.Join(filepath.Dir(l.GeoIP), fmt.Sprintf(".city.mmdb.%d.tmp", n))
		err := copyFile(src, tmp)
		if err == nil {
			err = os.Rename(tmp, l.GeoIP)
		}
		if err != nil {
			c.fail(fmt.Errorf("GeoIP replacement %d: %w", n, err))
			return
		}
		c.geoipReplacements.Add(1)
	})
	wg.Wait()
	toggled.healthy.Store(true)
	if err := closed.open(); err != nil {
		c.fail(fmt.Errorf("reopening health target %s: %w", closed.addr, err))
	}
}
