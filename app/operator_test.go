package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/dns/server"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/internal/etcdtest"
)

// operatorZone has one region with two endpoints of equal weight, one of
// which answers each query (drawn by weight).
const operatorZone = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
regions:
  us-east: { location: [39.04, -77.49], countries: [US] }
services:
  www:
    answers: 1
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: us-east, address: 192.0.2.11 }
`

// runOperatorApp starts an instance serving operatorZone, with its admin
// listener on loopback and a configuration ending in extra, until the test
// ends.
func runOperatorApp(t *testing.T, extra string) *App {
	t.Helper()
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(zonesDir, "example.com.yaml"), []byte(operatorZone), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "meridian.yaml")
	body := "listen: [\"127.0.0.1:0\"]\nzones: " + zonesDir + "\nhttp: {listen: \"127.0.0.1:0\"}\n" + extra
	if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	})
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not started")
	}
	return a
}

// post sends a JSON body to the instance's admin API over loopback and
// decodes the answer, failing the test unless it is 200.
func post(t *testing.T, a *App, path, body string) map[string]any {
	t.Helper()
	resp, err := http.Post("http://"+a.Admin.Addr()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %d %v", path, body, resp.StatusCode, out)
	}
	return out
}

// answers asks the instance's DNS handler (not the network) n times for
// www.example.com A and counts the addresses answered.
func answers(t *testing.T, a *App, n int) map[string]int {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	client := netip.MustParseAddr("127.0.0.1")
	counts := map[string]int{}
	for i := range n {
		q.Id = uint16(i)
		wire, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		reply := a.Handler.Serve(wire, client, server.TCP, nil)
		var m dns.Msg
		if err := m.Unpack(reply); err != nil {
			t.Fatal(err)
		}
		for _, rr := range m.Answer {
			if r, ok := rr.(*dns.A); ok {
				counts[r.A.String()]++
			}
		}
	}
	return counts
}

// waitUntil polls cond until it holds, failing the test after a generous
// bound; nothing is timed.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFleetOperatorState runs three instances on one etcd: a drain sent to
// one instance's admin API is in force on the others; a weight change sent
// to another shifts every instance's answers; a malformed value written
// straight to etcd is ignored and counted; the changes are listed with
// who, when and what on every instance.
func TestFleetOperatorState(t *testing.T) {
	srv := etcdtest.Start(t)
	var fleet []*App
	for _, name := range []string{"ns1", "ns2", "ns3"} {
		fleet = append(fleet, runOperatorApp(t, fmt.Sprintf("cluster:\n  etcd: {endpoints: [%q]}\n  instance: %s\n", srv.Endpoint(), name)))
	}
	for _, a := range fleet {
		if c := answers(t, a, 200); c["192.0.2.10"] == 0 || c["192.0.2.11"] == 0 {
			t.Fatalf("before any change, answers %v: want both endpoints", c)
		}
	}

	post(t, fleet[0], "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`)
	for i, a := range fleet {
		waitUntil(t, fmt.Sprintf("ns%d answers without the drained endpoint", i+1), func() bool {
			c := answers(t, a, 50)
			return c["192.0.2.10"] == 0 && c["192.0.2.11"] == 50
		})
	}
	post(t, fleet[2], "/api/v1/undrain", `{"service":"www.example.com.","endpoint":"192.0.2.10"}`)

	// Weight 0 takes 192.0.2.11 out while 192.0.2.10 is up; then 9 to 1
	// makes 192.0.2.11 the usual answer.
	post(t, fleet[1], "/api/v1/weight", `{"service":"www.example.com.","endpoint":"192.0.2.11","weight":0}`)
	for i, a := range fleet {
		waitUntil(t, fmt.Sprintf("ns%d answers only 192.0.2.10", i+1), func() bool {
			c := answers(t, a, 50)
			return c["192.0.2.10"] == 50
		})
	}
	post(t, fleet[1], "/api/v1/weight", `{"service":"www.example.com.","endpoint":"192.0.2.11","weight":9}`)
	for i, a := range fleet {
		waitUntil(t, fmt.Sprintf("ns%d sees the weight 9", i+1), func() bool {
			w, ok := a.Health.Overrides().Weight("www.example.com.", "192.0.2.11")
			return ok && w == 9
		})
		// 9 to 1 over 400 answers: 360 expected, 300 is over 6 standard
		// deviations away.
		if c := answers(t, a, 400); c["192.0.2.11"] < 300 {
			t.Errorf("ns%d with 192.0.2.11 at weight 9 of 10: answers %v", i+1, c)
		}
	}

	// A malformed value under admin/ is ignored and counted; the weight in
	// force stays.
	before := fleet[2].metricsState().Cluster.Malformed
	cli := srv.Client()
	if _, err := cli.Put(context.Background(), "/meridian/admin/weights/www.example.com./192.0.2.10", `{"weight":"heavy"}`); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the malformed weight counted", func() bool { return fleet[2].metricsState().Cluster.Malformed > before })
	if _, ok := fleet[2].Health.Overrides().Weight("www.example.com.", "192.0.2.10"); ok {
		t.Error("a malformed weight is in force")
	}
	if w, _ := fleet[2].Health.Overrides().Weight("www.example.com.", "192.0.2.11"); w != 9 {
		t.Errorf("weight of 192.0.2.11 %d after a malformed value beside it, want 9", w)
	}

	for i, a := range fleet {
		resp, err := http.Get("http://" + a.Admin.Addr() + "/api/v1/changes")
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Changes []healthcheck.Change }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range body.Changes {
			if c.Time.IsZero() || !strings.HasPrefix(c.Client, "127.0.0.1:") || c.Auth != "none" {
				t.Errorf("ns%d: change without who or when: %+v", i+1, c)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s->%s", c.Instance, c.Action, c.Target, c.Old, c.New))
		}
		want := []string{
			"ns2 weight weight www.example.com./192.0.2.11 0->9",
			"ns2 weight weight www.example.com./192.0.2.11 none->0",
			"ns3 undrain endpoint www.example.com./192.0.2.10 drain->none",
			"ns1 drain endpoint www.example.com./192.0.2.10 none->drain",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("ns%d lists the changes:\n%s\nwant:\n%s", i+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestOperatorStateWithoutCluster: alone, drains and weights go to the
// admin_state file, shift the answers, survive a restart from the file,
// and the changes are listed from memory.
func TestOperatorStateWithoutCluster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin_state.yaml")
	a := runOperatorApp(t, "admin_state: "+path+"\n")
	if a.Operator != nil {
		t.Fatal("an etcd operator state without a cluster")
	}
	post(t, a, "/api/v1/weight", `{"service":"www.example.com","endpoint":"192.0.2.10","weight":0}`)
	if c := answers(t, a, 100); c["192.0.2.11"] != 100 {
		t.Errorf("with 192.0.2.10 at weight 0, answers %v", c)
	}
	post(t, a, "/api/v1/drain", `{"service":"www.example.com.","endpoint":"192.0.2.11"}`)
	saved, err := healthcheck.LoadOverrides(path)
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := saved.Weight("www.example.com.", "192.0.2.10"); !ok || w != 0 {
		t.Errorf("admin_state holds weight %d %v, want 0", w, ok)
	}
	if st, _ := saved.Endpoint("www.example.com.", "192.0.2.11"); st != healthcheck.AdminDrain {
		t.Errorf("admin_state holds %q for 192.0.2.11, want drain", st)
	}
	// 192.0.2.11 drained: the weight-0 endpoint is all that is left.
	if c := answers(t, a, 100); c["192.0.2.10"] != 100 {
		t.Errorf("with 192.0.2.11 drained, answers %v", c)
	}

	// A second instance reading the same file starts with both.
	b := runOperatorApp(t, "admin_state: "+path+"\n")
	if c := answers(t, b, 100); c["192.0.2.10"] != 100 {
		t.Errorf("instance started from admin_state: answers %v", c)
	}
	post(t, a, "/api/v1/weight", `{"service":"www.example.com.","endpoint":"192.0.2.10","weight":null}`)
	waitUntil(t, "the other instance reads the file again", func() bool {
		_, ok := b.Health.Overrides().Weight("www.example.com.", "192.0.2.10")
		return !ok
	})

	resp, err := http.Get("http://" + a.Admin.Addr() + "/api/v1/changes?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Changes []healthcheck.Change }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Changes) != 2 || body.Changes[0].Old != "0" || body.Changes[0].New != "none" ||
		body.Changes[1].Action != "drain" || body.Changes[0].Instance != "" {
		t.Errorf("changes %+v", body.Changes)
	}
}
