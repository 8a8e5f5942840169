package admin

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/healthcheck/check"
)

// fakeFleet is a fleet of three whose verdict on every target is down,
// seen so by ns1 (this instance) and ns2 but not ns3; its state is set by
// the test.
type fakeFleet struct {
	mu    sync.Mutex
	state cluster.State
}

func (f *fakeFleet) State() cluster.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeFleet) setState(s cluster.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state = s
}

func (f *fakeFleet) Target(check.Key) (cluster.TargetView, bool) {
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	down := cluster.Observation{State: healthcheck.StateDown, Since: since, Error: "connection refused"}
	return cluster.TargetView{
		Verdict: healthcheck.StateDown,
		Own:     healthcheck.StateDown,
		Observers: []cluster.ObserverView{
			{Instance: "ns1", Observation: down, Self: true},
			{Instance: "ns2", Observation: down},
			{Instance: "ns3", Observation: cluster.Observation{State: healthcheck.StateUp, Since: since}},
		},
		Assigned: []string{"ns1", "ns2", "ns3"},
	}, true
}

var connectedState = cluster.State{Instance: "ns1", Connected: true, Fresh: true, Instances: []string{"ns1", "ns2", "ns3"},
	LeaseTTL: 6 * time.Second, LastContact: time.Now(), Targets: 4, Observing: 4, Disagreements: 1, Writes: 12}

// withFleet gives the fixture a fleet, and explanations its view as the
// app wires it.
func withFleet(fleet *fakeFleet) fixtureOption {
	return func(_ *Config, d *Deps) {
		d.Fleet = fleet
		d.Health.ExplainCheck = func(k check.Key) string {
			v, _ := fleet.Target(k)
			return v.Text()
		}
	}
}

// checkedZone is testZone with a check on www.
var checkedZone = strings.Replace(testZone, "services:\n  www:\n", "checks:\n  web: { type: tcp, port: 80 }\nservices:\n  www:\n    check: web\n", 1)

// TestStatusFleet: with a fleet, the status document has a cluster section
// and, per checked endpoint, the fleet's verdict and each observer's view;
// without one, neither.
func TestStatusFleet(t *testing.T) {
	fleet := &fakeFleet{state: connectedState}
	f := newFixture(t, withFleet(fleet))
	if err := os.WriteFile(f.zoneFile, []byte(checkedZone), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.deps.Reload("test"); err != nil {
		t.Fatal(err)
	}
	var st Status
	expect(t, f.do("GET", "/api/v1/status", ""), http.StatusOK, &st)
	c := st.Cluster
	if c == nil {
		t.Fatal("no cluster section")
	}
	if c.Instance != "ns1" || !c.Connected || !c.Fresh || len(c.Instances) != 3 || c.LeaseTTL != 6 ||
		c.Disagreements != 1 || c.Writes != 12 || !strings.Contains(c.Detail, "3 live instances") {
		t.Errorf("cluster %+v", c)
	}
	var www *ServiceStatus
	for i, s := range st.Zones[0].Services {
		if s.Name == "www.example.com." {
			www = &st.Zones[0].Services[i]
		}
	}
	if www == nil {
		t.Fatal("no service www")
	}
	for _, e := range www.Endpoints {
		v := e.Fleet
		if v == nil {
			t.Fatalf("endpoint %s has no fleet view", e.Address)
		}
		if v.Verdict != "down" || v.Own != "down" || len(v.Observers) != 3 || len(v.Assigned) != 3 {
			t.Errorf("endpoint %s: fleet %+v", e.Address, v)
		}
		if o := v.Observers[0]; o.Instance != "ns1" || o.State != "down" || !o.Self || o.Error != "connection refused" || o.Since == nil {
			t.Errorf("endpoint %s: observer %+v", e.Address, o)
		}
		if o := v.Observers[2]; o.Instance != "ns3" || o.State != "up" || o.Self || o.Error != "" {
			t.Errorf("endpoint %s: observer %+v", e.Address, o)
		}
		if v.Text != "fleet: down (2 of 3 observers down: ns1 down, ns2 down, ns3 up)" {
			t.Errorf("endpoint %s: text %q", e.Address, v.Text)
		}
	}
	for _, s := range st.Zones[0].Services {
		for _, e := range s.Endpoints {
			if s.Name != "www.example.com." && e.Fleet != nil {
				t.Errorf("unchecked endpoint %s of %s has a fleet view", e.Address, s.Name)
			}
		}
	}

	var alone Status
	expect(t, newFixture(t).do("GET", "/api/v1/status", ""), http.StatusOK, &alone)
	if alone.Cluster != nil {
		t.Errorf("cluster section without a fleet: %+v", alone.Cluster)
	}
}

// TestReadyzFleet: /readyz says how the instance stands in its fleet and
// that, out of contact with etcd, it decides from its own probes, and stays
// ready all the same; the status document says so too.
func TestReadyzFleet(t *testing.T) {
	fleet := &fakeFleet{state: connectedState}
	f := newFixture(t, withFleet(fleet))
	var body map[string]any
	expect(t, f.do("GET", "/readyz", ""), http.StatusOK, &body)
	if body["ready"] != true || !strings.Contains(body["cluster"].(string), "etcd: connected") {
		t.Errorf("readyz connected: %v", body)
	}

	fleet.setState(cluster.State{Instance: "ns1", Instances: []string{"ns1"}, LeaseTTL: 6 * time.Second,
		LastContact: time.Now().Add(-time.Minute), LastError: "context deadline exceeded"})
	expect(t, f.do("GET", "/readyz", ""), http.StatusOK, &body)
	detail, _ := body["cluster"].(string)
	if body["ready"] != true || !strings.HasPrefix(detail, "etcd unreachable: deciding from this instance's own probes") ||
		!strings.Contains(detail, "context deadline exceeded") {
		t.Errorf("readyz out of contact: %v", body)
	}
	var st Status
	expect(t, f.do("GET", "/api/v1/status", ""), http.StatusOK, &st)
	if st.Cluster == nil || st.Cluster.Connected || st.Cluster.Fresh || !strings.HasPrefix(st.Cluster.Detail, "etcd unreachable") {
		t.Errorf("status out of contact: %+v", st.Cluster)
	}

	var alone map[string]any
	expect(t, newFixture(t).do("GET", "/readyz", ""), http.StatusOK, &alone)
	if _, ok := alone["cluster"]; ok || alone["ready"] != true {
		t.Errorf("readyz without a fleet: %v", alone)
	}
}

// TestExplainFleet: the explain API says for a checked endpoint how the
// fleet decided it.
func TestExplainFleet(t *testing.T) {
	f := newFixture(t, withFleet(&fakeFleet{state: connectedState}))
	if err := os.WriteFile(f.zoneFile, []byte(checkedZone), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.deps.Reload("test"); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Answers []struct {
			Lines []string `json:"lines"`
		} `json:"answers"`
	}
	expect(t, f.do("GET", "/api/v1/explain?name=www.example.com&type=A&client=198.51.100.7", ""), http.StatusOK, &res)
	if len(res.Answers) != 1 {
		t.Fatalf("answers %+v", res)
	}
	text := strings.Join(res.Answers[0].Lines, "\n")
	want := "endpoint 198.51.100.10 (eu-west): fleet: down (2 of 3 observers down: ns1 down, ns2 down, ns3 up)"
	if !strings.Contains(text, want) {
		t.Errorf("explanation lacks %q:\n%s", want, text)
	}
}
