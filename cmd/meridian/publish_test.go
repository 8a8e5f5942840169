package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/cluster"
	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/internal/etcdtest"
)

// fleetWait bounds every wait of the fleet tests: generous, so that a
// test fails rather than hangs; nothing is timed.
const fleetWait = 30 * time.Second

// zoneText is example.com with the given serial, its records in
// sub/records.txt.
func zoneText(serial int) string {
	return fmt.Sprintf("zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: %d}\n"+
		"ns: [ns1.example.com.]\nrecords_file: sub/records.txt\n", serial)
}

// writeZones writes a zones directory of example.com at serial.
func writeZones(t *testing.T, dir string, serial int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(zoneText(serial)), 0o644); err != nil {
		t.Fatal(err)
	}
	recs := fmt.Sprintf("www 300 IN A 192.0.2.%d\n", serial)
	if err := os.WriteFile(filepath.Join(dir, "sub", "records.txt"), []byte(recs), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fleetConfig writes a configuration of instance name in dir, whose zones
// directory holds example.com at serial 1, and returns its path.
func fleetConfig(t *testing.T, dir, endpoint, name, extra string) string {
	t.Helper()
	zonesDir := filepath.Join(dir, "zones")
	writeZones(t, zonesDir, 1)
	body := fmt.Sprintf("listen: [\"127.0.0.1:0\"]\nzones: %s\nlimits: {zone_file_bytes: 8192}\n"+
		"cluster:\n  etcd: {endpoints: [%q]}\n  instance: %s\n%s", zonesDir, endpoint, name, extra)
	path := filepath.Join(dir, "meridian.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startInstance runs an App of the configuration at path until the test
// ends.
func startInstance(t *testing.T, path string) *app.App {
	t.Helper()
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
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
		case <-time.After(fleetWait):
			t.Error("Run did not return")
		}
	})
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(fleetWait):
		t.Fatal("not started")
	}
	return a
}

// run runs the meridian command line with args.
func run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := root()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// waitFor polls cond until it holds, failing the test after fleetWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", fleetWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPublishToFleet runs three instances with zones_from: cluster on one
// etcd: meridian publish of a good change is served by all three; of a
// broken zone it is refused with file:line and the fleet is unchanged;
// revisions written to etcd by hand that are malformed (a path with "..",
// a file over limits.zone_file_bytes, a zone that does not build) are
// refused by every instance, which keeps serving the previous revision
// and reports the refusal (metric, fleet status, GET /api/v1/fleet).
func TestPublishToFleet(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	var fleet []*app.App
	for i, name := range []string{"a", "b", "c"} {
		extra := "  zones_from: cluster\nhttp: {listen: \"\"}\n"
		if i == 0 {
			extra = "  zones_from: cluster\nhttp: {listen: \"127.0.0.1:0\"}\n"
		}
		fleet = append(fleet, startInstance(t, fleetConfig(t, t.TempDir(), srv.Endpoint(), name, extra)))
	}
	pubDir := t.TempDir()
	pub := fleetConfig(t, pubDir, srv.Endpoint(), "publisher", "http: {listen: \"\"}\n")
	serial := func(a *app.App) uint32 {
		z := a.Zones.Current().Zone("example.com.")
		if z == nil {
			return 0
		}
		return z.Serial
	}

	// A good change reaches every instance.
	writeZones(t, filepath.Join(pubDir, "zones"), 2)
	out, errOut, err := run("publish", "--config", pub)
	if err != nil {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "published revision 1: 2 files") {
		t.Errorf("publish said:\n%s", out)
	}
	for i, a := range fleet {
		waitFor(t, fmt.Sprintf("instance %d serves serial 2", i), func() bool {
			rev, _ := a.Follower.Revision()
			return serial(a) == 2 && rev == 1
		})
		if z := a.Zones.Current().Zone("example.com."); z.Records < 2 {
			t.Errorf("instance %d: %d records, want the published records_file's too", i, z.Records)
		}
	}
	if out, _, err := run("publish", "--config", pub); err != nil || !strings.Contains(out, "unchanged: revision 1") {
		t.Errorf("publishing the same files again: %v\n%s", err, out)
	}

	// A broken zone is refused with its file and line; nothing is written.
	broken := filepath.Join(pubDir, "zones", "example.com.yaml")
	if err := os.WriteFile(broken, []byte(zoneText(3)+"bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = run("publish", "--config", pub)
	if err == nil || !strings.Contains(err.Error(), "nothing published") || !strings.Contains(errOut, "example.com.yaml:5:") {
		t.Errorf("publishing a broken zone: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	resp, err := cli.Get(context.Background(), "/meridian/zones/current")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("zones/current after a refused publish: %v %v", resp, err)
	}

	// Malformed revisions written straight to etcd are refused by every
	// instance, which keeps serving revision 1.
	good := []byte(zoneText(4))
	records := []byte("www 300 IN A 192.0.2.4\n")
	cases := []struct {
		name  string
		files map[string][]byte // written as they are, whatever the manifest says
		want  string
	}{
		{"a path with ..", map[string][]byte{"example.com.yaml": good, "sub/records.txt": records, "../evil.yaml": good}, "path"},
		{"a file over the limit", map[string][]byte{"example.com.yaml": append(bytes.Repeat([]byte("# padding\n"), 1000), good...), "sub/records.txt": records}, "limits.zone_file_bytes"},
		{"a zone that does not build", map[string][]byte{"example.com.yaml": []byte(zoneText(4) + "bogus: 1\n"), "sub/records.txt": records}, "example.com.yaml:5:"},
	}
	for n, c := range cases {
		id := uint64(n + 2)
		rev, err := cluster.NewRevision(map[string][]byte{"example.com.yaml": c.files["example.com.yaml"], "sub/records.txt": records}, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		manifest, _ := json.Marshal(rev.Manifest)
		base := fmt.Sprintf("/meridian/zones/rev/%d/", id)
		ops := []clientv3.Op{clientv3.OpPut(base+"manifest", string(manifest)), clientv3.OpPut("/meridian/zones/current", fmt.Sprint(id))}
		for p, b := range c.files {
			ops = append(ops, clientv3.OpPut(base+"files/"+p, string(b)))
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
		for i, a := range fleet {
			waitFor(t, fmt.Sprintf("%s: instance %d refuses revision %d", c.name, i, id), func() bool {
				r := a.Follower.Status().Rejected
				return r != nil && r.Revision == id
			})
			st := a.Follower.Status()
			if !strings.Contains(st.Rejected.Error, c.want) {
				t.Errorf("%s: instance %d refused it with %q, want it to say %q", c.name, i, st.Rejected.Error, c.want)
			}
			if rev, rejected := a.Follower.Revision(); serial(a) != 2 || rev != 1 || rejected != uint64(n+1) {
				t.Errorf("%s: instance %d serves serial %d, revision %d, %d refused; want 2, 1, %d", c.name, i, serial(a), rev, rejected, n+1)
			}
		}
	}

	// fleet status lists the instances, what each serves and the refusal.
	waitFor(t, "fleet status shows every instance's refusal", func() bool {
		out, _, err := run("fleet", "status", "--config", pub)
		return err == nil && strings.Count(out, "refused revision 4") == 3
	})
	out, _, err = run("fleet", "status", "--config", pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"published zones: revision 4", "3 live instances", "example.com.=2", "a: refused revision 4: revision 4: ", "a: serves revision 1, not the current 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("fleet status lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"a ", "b ", "c "} {
		if !strings.Contains(out, "\n"+name) {
			t.Errorf("fleet status does not list instance %s:\n%s", name, out)
		}
	}

	// The admin API says the same.
	res, err := http.Get("http://" + fleet[0].Admin.Addr() + "/api/v1/fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var f cluster.Fleet
	if err := json.NewDecoder(res.Body).Decode(&f); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/fleet: %d %v", res.StatusCode, err)
	}
	if f.Revision != 4 || len(f.Instances) != 3 {
		t.Fatalf("GET /api/v1/fleet: %+v", f)
	}
	for _, i := range f.Instances {
		if s := i.Status; s == nil || s.Revision != 1 || s.Serials["example.com."] != 2 || s.Rejected == nil || s.Rejected.Revision != 4 || !s.Connected {
			t.Errorf("instance %s: status %+v (%s)", i.Instance, i.Status, i.Error)
		}
	}
	var exposition strings.Builder
	mfs, err := fleet[0].Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "meridian_cluster_zone_") {
			fmt.Fprintf(&exposition, "%s %v\n", mf.GetName(), mf.GetMetric()[0].GetGauge().GetValue()+mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	for _, want := range []string{"meridian_cluster_zone_revision 1\n", "meridian_cluster_zone_revisions_rejected_total 3\n"} {
		if !strings.Contains(exposition.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, exposition.String())
		}
	}

	// A good publish after the refusals is served again.
	writeZones(t, filepath.Join(pubDir, "zones"), 5)
	if out, errOut, err := run("publish", "--config", pub); err != nil || !strings.Contains(out, "published revision 5") {
		t.Fatalf("publish: %v\n%s%s", err, out, errOut)
	}
	for i, a := range fleet {
		waitFor(t, fmt.Sprintf("instance %d serves serial 5", i), func() bool {
			rev, _ := a.Follower.Revision()
			return serial(a) == 5 && rev == 5 && a.Follower.Status().Rejected == nil
		})
	}
}
