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
	"go.yaml.in/yaml/v3"
)

// A zone loader decodes each entry under "checks:" with DecodeSpec and names
// it after its key.
func ExampleDecodeSpec() {
	const zone = `checks:
  web:
    type: http               # tcp | http | https | dns | exec
    port: 80
    path: /healthz
    host: www.example.com    # Host header (and SNI for https)
    expect_status: [200-299] # codes or ranges
    expect_body: "ok"        # optional substring in the first 64 KiB
    interval: 10s
    timeout: 2s
    rise: 2                  # consecutive successes to become up
    fall: 3                  # consecutive failures to become down
  typo:
    type: tcp
    prot: 22
`
	var doc struct {
		Checks map[string]yaml.Node `yaml:"checks"`
	}
	if err := yaml.Unmarshal([]byte(zone), &doc); err != nil {
		fmt.Println(err)
		return
	}
	node := doc.Checks["web"]
	web, err := healthcheck.DecodeSpec(&node)
	if err != nil {
		fmt.Println(err)
		return
	}
	web.Name = "web"
	fmt.Println(web.Type, web.Port, web.Path, web.ExpectStatus, web.Interval, web.Timeout, web.Rise, web.Fall)

	node = doc.Checks["typo"]
	_, err = healthcheck.DecodeSpec(&node)
	fmt.Println(err)
	// Output:
	// http 80 /healthz [200-299] 10s 2s 2 3
	// line 15: unknown key "prot"; did you mean "port"?
}

// The DNS side decides per region whether enough endpoints are up.
func ExampleRegionUp() {
	half, _ := healthcheck.ParseMinHealthy("50%")
	fmt.Println(healthcheck.RegionUp(1, 3, half), healthcheck.RegionUp(2, 3, half))
	fmt.Println(healthcheck.RegionUp(1, 4, healthcheck.MinHealthy{}))
	// Output:
	// false true
	// true
}

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
	target := healthcheck.Target{
		Spec:    healthcheck.Spec{Name: "smtp", Type: healthcheck.TypeTCP, Port: ln.Addr().(*net.TCPAddr).Port, Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond},
		Address: netip.MustParseAddr("127.0.0.1"),
	}
	if err := m.SetTargets([]healthcheck.Target{target}); err != nil {
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
