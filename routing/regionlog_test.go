package routing

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meridian-dns/meridian/zones"
)

// downHealth reports the endpoints whose keys it holds as down.
type downHealth struct {
	mu   sync.Mutex
	down map[string]bool
}

func (h *downHealth) set(keys ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down = map[string]bool{}
	for _, k := range keys {
		h.down[k] = true
	}
}

func (h *downHealth) Endpoint(ep *zones.Endpoint) EndpointState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return EndpointState{Up: !h.down[ep.Key], Load: -1}
}

func (*downHealth) MinHealthy(*zones.Service, int) int { return 1 }

// TestRegionLogLogsEachChangeOnce holds region and service availability
// to one log line per change, however many endpoints or updates make it.
func TestRegionLogLogsEachChangeOnce(t *testing.T) {
	dir := t.TempDir()
	zone := `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [53.35, -6.26] }
services:
  www:
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: us-east, address: 192.0.2.11 }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: eu-west, address: "2001:db8:2::10" }
`
	if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	h := &downHealth{}
	l := NewRegionLog(New(nil, h), slog.New(slog.NewTextHandler(&buf, nil)))
	step := func(name string, down []string, want ...string) {
		t.Helper()
		h.set(down...)
		l.Update(snap)
		got := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			got = nil
		}
		buf.Reset()
		if len(got) != len(want) {
			t.Errorf("%s: logged %d lines, want %d:\n%s", name, len(got), len(want), strings.Join(got, "\n"))
			return
		}
		for i := range want {
			if !strings.Contains(got[i], want[i]) {
				t.Errorf("%s: line %q\ndoes not contain %q", name, got[i], want[i])
			}
		}
	}
	step("first update records the states", []string{"www.example.com./192.0.2.10"})
	step("one endpoint of two", []string{"www.example.com./192.0.2.10"})
	step("eu-west down", []string{"www.example.com./198.51.100.10", "www.example.com./2001:db8:2::10"},
		`level=WARN msg="region unavailable for service; its clients go to the next region" service=www.example.com. region=eu-west healthy=0 endpoints=2 min_healthy=1`)
	step("still down", []string{"www.example.com./198.51.100.10", "www.example.com./2001:db8:2::10"})
	step("all down", []string{"www.example.com./192.0.2.10", "www.example.com./192.0.2.11", "www.example.com./198.51.100.10", "www.example.com./2001:db8:2::10"},
		`level=WARN msg="region unavailable for service; its clients go to the next region" service=www.example.com. region=us-east healthy=0`,
		`level=ERROR msg="no region is available for service; answering as all_down says" service=www.example.com. all_down=serve_all`)
	step("all back", nil,
		`level=INFO msg="region available for service" service=www.example.com. region=us-east healthy=2 endpoints=2`,
		`level=INFO msg="region available for service" service=www.example.com. region=eu-west healthy=2 endpoints=2`,
		`level=INFO msg="service has an available region again" service=www.example.com.`)
}
