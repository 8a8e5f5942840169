package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/internal/etcdtest"
)

// TestLockedDownPrefix sets etcd's users and roles up as docs/fleet.md
// says (each instance reads the prefix and writes its own keys only): the
// members work, with their passwords read from files, and one cannot
// write another's observation.
func TestLockedDownPrefix(t *testing.T) {
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
		own := "/meridian/health/" + name + "/"
		must(root.RoleAdd(ctx, role))
		must(root.RoleGrantPermission(ctx, role, "/meridian/", clientv3.GetPrefixRangeEnd("/meridian/"), read))
		must(root.RoleGrantPermission(ctx, role, "/meridian/instances/"+name, "", readwrite))
		must(root.RoleGrantPermission(ctx, role, own, clientv3.GetPrefixRangeEnd(own), readwrite))
		must(root.UserAdd(ctx, name, name+"-secret"))
		must(root.UserGrantRole(ctx, name, role))
	}
	must(root.AuthEnable(ctx))

	k := testKeys(1)[0]
	dir := t.TempDir()
	var nodes []*node
	for _, name := range []string{"a", "b"} {
		pwFile := filepath.Join(dir, name)
		if err := os.WriteFile(pwFile, []byte(name+"-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		conn, err := ConnectionFrom(config.Etcd{Endpoints: []string{srv.Endpoint()}, Prefix: "/meridian/", Username: name, PasswordFile: pwFile})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startNode(t, srv, name, []check.Key{k}, fleetOptions{conn: &conn}))
	}
	a, b := nodes[0], nodes[1]
	allConnected(t, a, b)
	a.f.see(k, down)
	waitFor(t, "b reads a's observation", func() bool { return sees(b, k, "a", down) })
	waitFor(t, "a reads b's observation", func() bool { return sees(a, k, "b", up) })

	// a's credentials cannot forge b's observation.
	ac, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint()}, Username: "a", Password: "a-secret",
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	_, err = ac.Put(ctx, "/meridian/health/b/"+k.ID(), string(Observation{State: down, Since: time.Now()}.Marshal()))
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("a writing b's observation: %v, want permission denied", err)
	}
	if !sees(a, k, "b", up) {
		t.Errorf("b's observation changed: %v", observers(a, k))
	}

	// A member that stops revokes its lease, which its role allows.
	b.stop(t)
	waitFor(t, "a forgets b", func() bool { return len(a.m.State().Instances) == 1 })
	if w := a.m.State().Malformed; w != 0 {
		t.Errorf("%d malformed values", w)
	}
}

func TestConnectionFrom(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ConnectionFrom(config.Etcd{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/m/", Username: "u", PasswordFile: pw})
	if err != nil || c.Password != "s3cret" || c.Username != "u" || c.TLS != nil {
		t.Errorf("ConnectionFrom = %+v, %v", c, err)
	}
	c, err = ConnectionFrom(config.Etcd{Endpoints: []string{"https://127.0.0.1:2379"}, Prefix: "/m/"})
	if err != nil || c.TLS == nil || c.TLS.RootCAs != nil {
		t.Errorf("https endpoint: TLS %+v, %v; want TLS with the system roots", c.TLS, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]config.Etcd{
		"missing password file": {PasswordFile: filepath.Join(dir, "nope"), Username: "u"},
		"empty password":        {PasswordFile: empty, Username: "u"},
		"CA not PEM":            {TLS: config.EtcdTLS{CA: pw}},
		"cert not PEM":          {TLS: config.EtcdTLS{Cert: pw, Key: pw}},
	} {
		e.Endpoints, e.Prefix = []string{"https://127.0.0.1:2379"}, "/m/"
		if _, err := ConnectionFrom(e); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
