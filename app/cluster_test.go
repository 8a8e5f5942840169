package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/internal/etcdtest"
	"github.com/meridian-dns/meridian/zones"
)

// clusterApp returns an App for a zone whose service www has one endpoint,
// 127.0.0.1, checked over TCP on port, and a configuration ending in extra.
func clusterApp(t *testing.T, port int, extra string) *App {
	t.Helper()
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	zone := "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com.}\nns: [ns1.example.com.]\n" +
		"regions:\n  us-east: { location: [39.04, -77.49], countries: [US] }\n" +
		fmt.Sprintf("checks:\n  web: { type: tcp, port: %d, interval: 1s, timeout: 500ms }\n", port) +
		"services:\n  www:\n    check: web\n    endpoints:\n      - { region: us-east, address: 127.0.0.1 }\n"
	if err := os.WriteFile(filepath.Join(zonesDir, "example.com.yaml"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "meridian.yaml")
	body := "listen: [\"127.0.0.1:0\"]\nzones: " + zonesDir + "\nhttp: {listen: \"\"}\nstartup_grace: 5s\n" + extra
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
	return a
}

// theEndpoint returns the zone's one endpoint.
func theEndpoint(t *testing.T, a *App) *zones.Endpoint {
	t.Helper()
	for _, z := range a.Zones.Current().Zones() {
		for _, svc := range z.Services() {
			return svc.Endpoints[0]
		}
	}
	t.Fatal("no endpoint")
	return nil
}

// TestNoClusterRoutesByOwnProbes: without a cluster section nothing of the
// fleet is built, and routing reads the checker's own status.
func TestNoClusterRoutesByOwnProbes(t *testing.T) {
	a := clusterApp(t, 9, "")
	if a.Cluster != nil {
		t.Fatal("a cluster member without a cluster section")
	}
	if a.metricsState().Cluster != nil {
		t.Error("cluster metrics without a cluster")
	}
	ep := theEndpoint(t, a)
	if _, ok := a.Checker.Status().Get(ep.CheckKey); !ok {
		t.Fatal("the checker does not check the endpoint")
	}
}

// TestClusterVerdictRoutes runs an instance in a fleet whose two other
// members (written to etcd by hand, on a live lease) see its endpoint
// down while its own probes see it up: with down_when majority the fleet's
// verdict routes, the disagreement is counted, and when the others go
// away the instance's own view routes again.
func TestClusterVerdictRoutes(t *testing.T) {
	srv := etcdtest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	port := ln.Addr().(*net.TCPAddr).Port
	a := clusterApp(t, port, fmt.Sprintf("cluster:\n  etcd: {endpoints: [%q]}\n  instance: self\n", srv.Endpoint()))
	if a.Cluster == nil {
		t.Fatal("no cluster member")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
	}()
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("not started")
	}
	ep := theEndpoint(t, a)
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 20s: %s (cluster %+v)", what, a.Cluster.State())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("own probes see the endpoint up", func() bool {
		st, _ := a.Checker.Status().Get(ep.CheckKey)
		return st.State == healthcheck.StateUp && a.Cluster.State().Connected
	})

	cli := srv.Client()
	lease, err := cli.Grant(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.KeepAlive(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	var ops []clientv3.Op
	for _, peer := range []string{"p1", "p2"} {
		obs := cluster.Observation{State: healthcheck.StateDown, Since: time.Now(), Error: "connection refused"}
		ops = append(ops,
			clientv3.OpPut("/meridian/instances/"+peer, string(cluster.Instance{Version: "test", Started: time.Now()}.Marshal()), clientv3.WithLease(lease.ID)),
			clientv3.OpPut("/meridian/health/"+peer+"/"+ep.CheckKey.ID(), string(obs.Marshal()), clientv3.WithLease(lease.ID)))
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
	wait("the fleet's verdict takes the endpoint down", func() bool { return !a.Health.Endpoint(ep).Up })
	if st, _ := a.Checker.Status().Get(ep.CheckKey); st.State != healthcheck.StateUp {
		t.Errorf("own probes: %s, want up", st.State)
	}
	c := a.metricsState().Cluster
	if c == nil || !c.Connected || c.Instances != 3 || c.Disagreements != 1 {
		t.Errorf("cluster metrics %+v, want connected, 3 instances, 1 disagreement", c)
	}
	if v, ok := a.Cluster.Target(ep.CheckKey); !ok || len(v.Observers) != 3 || v.Verdict != healthcheck.StateDown || v.Own != healthcheck.StateUp {
		t.Errorf("target view %+v", v)
	}
	var exposition strings.Builder
	mfs, err := a.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		exposition.WriteString(mf.GetName() + "\n")
	}
	for _, name := range []string{"meridian_cluster_connected", "meridian_cluster_health_disagreements_total", "meridian_cluster_malformed_values_total"} {
		if !strings.Contains(exposition.String(), name+"\n") {
			t.Errorf("metric %s not exported", name)
		}
	}

	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	wait("the others gone, its own view routes", func() bool { return a.Health.Endpoint(ep).Up })
}
