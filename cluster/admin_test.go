package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/healthcheck"
	"github.com/meridian-dns/meridian/internal/etcdtest"
)

// startOperator runs an Operator of instance name against srv until the
// test ends.
func startOperator(t *testing.T, srv *etcdtest.Server, name string, keep int) *Operator {
	t.Helper()
	o, err := NewOperator(OperatorOptions{
		Connection: Connection{Endpoints: []string{srv.Endpoint()}, Prefix: "/meridian/"},
		Instance:   name,
		Keep:       keep,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := o.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return o
}

func drainEdit(addr string, st healthcheck.AdminState) healthcheck.Edit {
	return healthcheck.Edit{Kind: healthcheck.EditEndpoint, Name: "www.example.com", Item: addr, State: st, Weight: -1}
}

func weightEdit(addr string, w int) healthcheck.Edit {
	return healthcheck.Edit{Kind: healthcheck.EditWeight, Name: "www.example.com.", Item: addr, Weight: w}
}

// TestOperatorSharesChanges makes changes through one instance and finds
// them in force on the other, recorded with who, when and what.
func TestOperatorSharesChanges(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startOperator(t, srv, "ns1", 0)
	b := startOperator(t, srv, "ns2", 0)
	ctx := context.Background()
	who := healthcheck.Change{Client: "127.0.0.1:4000", Auth: "token", Action: "drain"}

	c, err := a.Apply(ctx, drainEdit("192.0.2.10", healthcheck.AdminDrain), who)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old != "none" || c.New != "drain" || c.Instance != "ns1" || c.Time.IsZero() {
		t.Errorf("change recorded as %+v", c)
	}
	// Apply returns once the change is in force on the instance that made
	// it (or after a second); the other follows through its watch.
	if st, ok := a.Overrides().Endpoint("www.example.com.", "192.0.2.10"); !ok || st != healthcheck.AdminDrain {
		t.Errorf("ns1 after its own drain: %q %v", st, ok)
	}
	waitFor(t, "ns2 sees the drain", func() bool {
		st, ok := b.Overrides().Endpoint("www.example.com.", "192.0.2.10")
		return ok && st == healthcheck.AdminDrain
	})

	who.Action = "weight"
	if _, err := b.Apply(ctx, weightEdit("192.0.2.11", 7), who); err != nil {
		t.Fatal(err)
	}
	c, err = a.Apply(ctx, weightEdit("192.0.2.11", 3), who)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old != "7" || c.New != "3" {
		t.Errorf("second weight recorded %s -> %s, want 7 -> 3", c.Old, c.New)
	}
	waitFor(t, "ns2 sees the weight", func() bool {
		w, ok := b.Overrides().Weight("www.example.com.", "192.0.2.11")
		return ok && w == 3
	})

	who.Action = "undrain"
	if _, err := b.Apply(ctx, drainEdit("192.0.2.10", ""), who); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ns1 sees the undrain", func() bool {
		_, ok := a.Overrides().Endpoint("www.example.com.", "192.0.2.10")
		return !ok
	})

	list, err := b.Changes(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, fmt.Sprintf("%s %s %s %s->%s %s %s", c.Instance, c.Action, c.Target, c.Old, c.New, c.Client, c.Auth))
	}
	want := []string{
		"ns2 undrain endpoint www.example.com./192.0.2.10 drain->none 127.0.0.1:4000 token",
		"ns1 weight weight www.example.com./192.0.2.11 7->3 127.0.0.1:4000 token",
		"ns2 weight weight www.example.com./192.0.2.11 none->7 127.0.0.1:4000 token",
		"ns1 drain endpoint www.example.com./192.0.2.10 none->drain 127.0.0.1:4000 token",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes, newest first:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOperatorKeepsLastChanges holds the record of changes to the last
// Keep.
func TestOperatorKeepsLastChanges(t *testing.T) {
	srv := etcdtest.Start(t)
	o := startOperator(t, srv, "ns1", 3)
	ctx := context.Background()
	for i := range 6 {
		if _, err := o.Apply(ctx, weightEdit("192.0.2.10", i), healthcheck.Change{Client: "127.0.0.1:1", Auth: "none", Action: "weight"}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := srv.Client().Get(ctx, "/meridian/"+changesDir, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 3 {
		t.Fatalf("%d changes kept in etcd, want 3", len(resp.Kvs))
	}
	list, err := o.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].New != "5" || list[2].New != "3" {
		t.Errorf("changes kept: %+v, want the last three (5, 4, 3)", list)
	}
}

// TestOperatorIgnoresMalformed writes values that do not pass directly to
// etcd: each is ignored and counted, valid ones beside them apply, and a
// key whose value turns malformed holds nothing.
func TestOperatorIgnoresMalformed(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client()
	ctx := context.Background()
	put := func(k, v string) {
		t.Helper()
		if _, err := cli.Put(ctx, "/meridian/"+k, v); err != nil {
			t.Fatal(err)
		}
	}
	put("admin/weights/www.example.com./192.0.2.10", `{"weight":4}`)
	o := startOperator(t, srv, "ns1", 0)
	waitFor(t, "the valid weight", func() bool {
		w, ok := o.Overrides().Weight("www.example.com.", "192.0.2.10")
		return ok && w == 4
	})
	bad := map[string]string{
		"admin/weights/www.example.com./192.0.2.11":   `{"weight":-1}`,
		"admin/weights/www.example.com./192.0.2.12":   `{"weight":1.5}`,
		"admin/weights/www.example.com./192.0.2.13":   `{"weight":2000000}`,
		"admin/weights/www.example.com./192.0.2.14":   `{"weight":3,"extra":1}`,
		"admin/weights/www.example.com./192.0.2.15":   `{}`,
		"admin/endpoints/www.example.com./192.0.2.16": `{"state":"drained"}`,
		"admin/endpoints/WWW.example.com/192.0.2.17":  `{"state":"drain"}`,
		"admin/endpoints/www.example.com./not-an-ip":  `{"state":"drain"}`,
		"admin/regions/example.com./eu":               `{"state":"down"} trailing`,
		"admin/regions/example.com./us":               `{"state":"` + strings.Repeat("d", 2000) + `"}`,
		"admin/other/x":                               `{"state":"down"}`,
	}
	before := o.Malformed()
	for k, v := range bad {
		put(k, v)
	}
	// A valid value written after the bad ones: once it is in force, all
	// of them have been read.
	put("admin/regions/example.com./ap", `{"state":"drain"}`)
	waitFor(t, "the valid region drain", func() bool {
		st, ok := o.Overrides().Region("example.com.", "ap")
		return ok && st == healthcheck.AdminDrain
	})
	if got := o.Malformed() - before; got != uint64(len(bad)) {
		t.Errorf("%d malformed values counted, want %d", got, len(bad))
	}
	ov := o.Overrides()
	if n := len(ov.Endpoints()) + len(ov.Regions()) + len(ov.Weights()); n != 2 {
		t.Errorf("overrides in force: %v %v %v; want only the valid weight and region", ov.Endpoints(), ov.Regions(), ov.Weights())
	}
	// The valid weight turns malformed: it is dropped, not kept.
	put("admin/weights/www.example.com./192.0.2.10", `{"weight":"4"}`)
	waitFor(t, "the weight dropped", func() bool {
		_, ok := o.Overrides().Weight("www.example.com.", "192.0.2.10")
		return !ok
	})
	// A malformed record of a change is left out of the list.
	put(changesDir+"00000000000000000001-x", `{"time":"2026-01-01T00:00:00Z","action":"explode"}`)
	if _, err := o.Apply(ctx, weightEdit("192.0.2.10", 1), healthcheck.Change{Client: "127.0.0.1:1", Auth: "none", Action: "weight"}); err != nil {
		t.Fatal(err)
	}
	list, err := o.Changes(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].New != "1" {
		t.Errorf("changes listed: %+v, want the one valid", list)
	}
}

// TestOperatorKeepsStateWithoutEtcd stops etcd: the state read stays in
// force, a change fails, and when etcd returns changes flow again.
func TestOperatorKeepsStateWithoutEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startOperator(t, srv, "ns1", 0)
	b := startOperator(t, srv, "ns2", 0)
	ctx := context.Background()
	who := healthcheck.Change{Client: "127.0.0.1:1", Auth: "none", Action: "drain"}
	if _, err := a.Apply(ctx, drainEdit("192.0.2.10", healthcheck.AdminDrain), who); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ns2 sees the drain", func() bool { _, ok := b.Overrides().Endpoint("www.example.com.", "192.0.2.10"); return ok })
	srv.Stop()
	sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := a.Apply(sctx, drainEdit("192.0.2.11", healthcheck.AdminDrain), who)
	cancel()
	if err == nil {
		t.Error("a change with etcd down succeeded")
	}
	if _, ok := b.Overrides().Endpoint("www.example.com.", "192.0.2.10"); !ok {
		t.Error("ns2 lost the drain when etcd went away")
	}
	srv.Restart()
	waitFor(t, "a change after etcd returns", func() bool {
		_, err := a.Apply(ctx, drainEdit("192.0.2.12", healthcheck.AdminDrain), who)
		return err == nil
	})
	waitFor(t, "ns2 sees it", func() bool { _, ok := b.Overrides().Endpoint("www.example.com.", "192.0.2.12"); return ok })
}

func TestParseAdminEntry(t *testing.T) {
	good := []struct {
		key, value string
		want       healthcheck.Edit
	}{
		{"admin/endpoints/www.example.com./192.0.2.1", `{"state":"drain"}`,
			healthcheck.Edit{Kind: healthcheck.EditEndpoint, Name: "www.example.com.", Item: "192.0.2.1", State: healthcheck.AdminDrain, Weight: -1}},
		{"admin/endpoints/www.example.com./2001:db8::1", `{"state":"down"}`,
			healthcheck.Edit{Kind: healthcheck.EditEndpoint, Name: "www.example.com.", Item: "2001:db8::1", State: healthcheck.AdminDown, Weight: -1}},
		{"admin/regions/example.com./eu-west", ` {"state":"up"} `,
			healthcheck.Edit{Kind: healthcheck.EditRegion, Name: "example.com.", Item: "eu-west", State: healthcheck.AdminUp, Weight: -1}},
		{"admin/weights/www.example.com./192.0.2.1", `{"weight":0}`,
			healthcheck.Edit{Kind: healthcheck.EditWeight, Name: "www.example.com.", Item: "192.0.2.1", Weight: 0}},
	}
	for _, tc := range good {
		got, err := ParseAdminEntry(tc.key, []byte(tc.value))
		if err != nil || got != tc.want {
			t.Errorf("%s = %s: %+v, %v; want %+v", tc.key, tc.value, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ key, value string }{
		{"admin/endpoints/www.example.com./2001:DB8::1", `{"state":"down"}`},
		{"admin/endpoints/www.example.com/192.0.2.1", `{"state":"down"}`},
		{"admin/endpoints/www.example.com./192.0.2.1/x", `{"state":"down"}`},
		{"admin/endpoints/www.example.com.", `{"state":"down"}`},
		{"admin/regions/example.com./eu west", `{"state":"down"}`},
		{"admin/weights/www.example.com./192.0.2.1", `{"state":"down"}`},
		{"admin/endpoints/www.example.com./192.0.2.1", `{"weight":1}`},
		{"admin/endpoints/www.example.com./192.0.2.1", `{"state":null}`},
		{"admin/endpoints/www.example.com./192.0.2.1", `[]`},
		{"admin/endpoints/www.example.com./192.0.2.1", ``},
		{"admin/weights/www.example.com./192.0.2.1", `{"weight":1e3}`},
		{"admin/weights/www.example.com./192.0.2.1", `{"weight":1000001}`},
	} {
		if e, err := ParseAdminEntry(tc.key, []byte(tc.value)); err == nil {
			t.Errorf("%s = %s accepted as %+v", tc.key, tc.value, e)
		}
	}
}

// TestOperatorLockedDown sets etcd's roles up as docs/fleet.md says: an
// instance granted admin/ and changes/ drains for the fleet, one that may
// only read the prefix follows the drain but cannot make one.
func TestOperatorLockedDown(t *testing.T) {
	srv := etcdtest.Start(t)
	root := srv.Client()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	read, _ := clientv3.StrToPermissionType("READ")
	readwrite, _ := clientv3.StrToPermissionType("READWRITE")
	must(root.UserAdd(ctx, "root", "root-secret"))
	must(root.UserGrantRole(ctx, "root", "root"))
	for _, name := range []string{"a", "b"} {
		role := "meridian-" + name
		must(root.RoleAdd(ctx, role))
		must(root.RoleGrantPermission(ctx, role, "/meridian/", clientv3.GetPrefixRangeEnd("/meridian/"), read))
		if name == "a" {
			for _, dir := range []string{"/meridian/admin/", "/meridian/changes/"} {
				must(root.RoleGrantPermission(ctx, role, dir, clientv3.GetPrefixRangeEnd(dir), readwrite))
			}
		}
		must(root.UserAdd(ctx, name, name+"-secret"))
		must(root.UserGrantRole(ctx, name, role))
	}
	must(root.AuthEnable(ctx))
	start := func(name string) *Operator {
		o, err := NewOperator(OperatorOptions{
			Connection: Connection{Endpoints: []string{srv.Endpoint()}, Prefix: "/meridian/", Username: name, Password: name + "-secret"},
			Instance:   name,
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		octx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := o.Run(octx); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { stop(); <-done })
		return o
	}
	a, b := start("a"), start("b")
	who := healthcheck.Change{Client: "127.0.0.1:1", Auth: "none", Action: "drain"}
	if _, err := b.Apply(ctx, drainEdit("192.0.2.10", healthcheck.AdminDrain), who); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("b draining: %v, want permission denied", err)
	}
	if _, err := a.Apply(ctx, drainEdit("192.0.2.10", healthcheck.AdminDrain), who); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b follows a's drain", func() bool {
		_, ok := b.Overrides().Endpoint("www.example.com.", "192.0.2.10")
		return ok
	})
	if list, err := b.Changes(ctx, 0); err != nil || len(list) != 1 || list[0].Instance != "a" {
		t.Errorf("b lists %+v, %v; want a's one change", list, err)
	}
}

// TestOperatorNotRunning: outside Run an Operator does not touch etcd, and
// a change waits for Run only as long as its context allows.
func TestOperatorNotRunning(t *testing.T) {
	o, err := NewOperator(OperatorOptions{Connection: Connection{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/meridian/"}, Instance: "x"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := o.Apply(ctx, drainEdit("192.0.2.10", healthcheck.AdminDrain), healthcheck.Change{Action: "drain"}); !errors.Is(err, errNotRunning) {
		t.Errorf("Apply without Run: %v, want %v", err, errNotRunning)
	}
	if _, err := o.Changes(ctx, 1); !errors.Is(err, errNotRunning) {
		t.Errorf("Changes without Run: %v", err)
	}
	if _, err := NewOperator(OperatorOptions{Connection: Connection{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/meridian"}}); err == nil {
		t.Error("a prefix without its final / accepted")
	}
}
