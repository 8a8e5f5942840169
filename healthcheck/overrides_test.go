package healthcheck

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const adminStateExample = `endpoints:
  "www.example.com./198.51.100.10": drain     # or up | down | drain
  "WWW.Example.com/2001:db8::0001": down
regions:
  "example.com./eu-west": down                # zone + "/" + region
`

func TestParseOverrides(t *testing.T) {
	o, err := ParseOverrides([]byte(adminStateExample), "admin_state.yaml")
	if err != nil {
		t.Fatalf("ParseOverrides: %v", err)
	}
	tests := []struct {
		name   string
		lookup func() (AdminState, bool)
		want   AdminState
		found  bool
	}{
		{"endpoint", func() (AdminState, bool) { return o.Endpoint("www.example.com.", "198.51.100.10") }, AdminDrain, true},
		{"endpoint without trailing dot", func() (AdminState, bool) { return o.Endpoint("www.example.com", "198.51.100.10") }, AdminDrain, true},
		{"endpoint canonical IPv6", func() (AdminState, bool) { return o.Endpoint("www.example.com.", "2001:db8::1") }, AdminDown, true},
		{"other endpoint", func() (AdminState, bool) { return o.Endpoint("www.example.com.", "198.51.100.11") }, "", false},
		{"other service", func() (AdminState, bool) { return o.Endpoint("api.example.com.", "198.51.100.10") }, "", false},
		{"region", func() (AdminState, bool) { return o.Region("Example.COM", "eu-west") }, AdminDown, true},
		{"other region", func() (AdminState, bool) { return o.Region("example.com.", "us-east") }, "", false},
		{"bad address", func() (AdminState, bool) { return o.Endpoint("www.example.com.", "nope") }, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found := tc.lookup()
			if got != tc.want || found != tc.found {
				t.Errorf("got %q, %v; want %q, %v", got, found, tc.want, tc.found)
			}
		})
	}
	var none *Overrides
	if _, ok := none.Endpoint("www.example.com.", "198.51.100.10"); ok {
		t.Error("nil Overrides has an endpoint override")
	}
}

func TestParseOverridesErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unknown state", "endpoints:\n  \"www.example.com./198.51.100.10\": drained\n",
			`admin_state.yaml:2: "www.example.com./198.51.100.10": unknown state "drained" (want up, down or drain)`},
		{"unknown section", "endpoints: {}\nzones:\n  a: b\n", `admin_state.yaml:2: unknown key "zones"`},
		{"bad address", "endpoints:\n  \"www.example.com./198.51.100\": down\n",
			`admin_state.yaml:2: key "www.example.com./198.51.100": address "198.51.100" is not an IP address`},
		{"missing slash", "regions:\n\n  example.com: down\n", `admin_state.yaml:3: key "example.com" must be "zone./region"`},
		{"empty region", "regions:\n  \"example.com./\": down\n", `admin_state.yaml:2: key "example.com./": region "" is not a region name`},
		{"duplicate after canonical form", "endpoints:\n  \"a.example./192.0.2.1\": up\n  \"A.example/192.0.2.1\": down\n",
			`admin_state.yaml:3: "a.example./192.0.2.1" is listed twice`},
		{"syntax error", "endpoints:\n  - [unclosed\n", "admin_state.yaml:"},
		{"tab garbage", "endpoints:\n\t\"x\": up\n", "admin_state.yaml:2: found character that cannot start any token"},
		{"not a mapping", "- up\n", "admin_state.yaml:1: admin_state must be a mapping"},
		{"indentation", "endpoints:\n  \"www.example.com./192.0.2.1\": drain\n  \"www.example.com./192.0.2.2\": down\n \"www.example.com./192.0.2.3\": up\n",
			"admin_state.yaml:4: did not find expected key (this line is not indented like"},
		{"section not a mapping", "regions: down\n", `admin_state.yaml:1: expected a mapping of "zone./region" to a state`},
		{"nested value", "regions:\n  \"example.com./eu\": {state: down}\n", "admin_state.yaml:2: expected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOverrides([]byte(tc.src), "admin_state.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()

	o, err := LoadOverrides(filepath.Join(dir, "missing.yaml"))
	if err != nil || len(o.Endpoints()) != 0 || len(o.Regions()) != 0 {
		t.Errorf("missing file: %v, %v; want empty overrides and no error", o, err)
	}

	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("# nothing overridden\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := LoadOverrides(empty); err != nil || len(o.Endpoints()) != 0 {
		t.Errorf("empty file: %v, %v", o, err)
	}

	garbage := filepath.Join(dir, "garbage.yaml")
	if err := os.WriteFile(garbage, []byte("endpoints:\n  \"a.example./192.0.2.1\": up\n  ::: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOverrides(garbage); err == nil || !strings.HasPrefix(err.Error(), garbage+":") {
		t.Errorf("garbage file: error %v, want one starting with %q", err, garbage+":")
	}

	if _, err := LoadOverrides(dir); err == nil {
		t.Error("LoadOverrides of a directory returned no error")
	}
}

func TestOverridesWithWithoutSave(t *testing.T) {
	base, err := ParseOverrides([]byte(adminStateExample), "admin_state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changed, err := base.WithEndpoint("api.example.com", "192.0.2.7", AdminDrain)
	if err != nil {
		t.Fatalf("WithEndpoint: %v", err)
	}
	changed = changed.WithoutRegion("example.com.", "eu-west")
	changed, err = changed.WithRegion("example.com.", "ap-south", AdminUp)
	if err != nil {
		t.Fatalf("WithRegion: %v", err)
	}
	changed = changed.WithoutEndpoint("www.example.com.", "2001:db8::1")

	if _, ok := base.Endpoint("api.example.com.", "192.0.2.7"); ok {
		t.Error("WithEndpoint changed its receiver")
	}
	if _, ok := base.Region("example.com.", "eu-west"); !ok {
		t.Error("WithoutRegion changed its receiver")
	}
	if _, err := base.WithEndpoint("www.example.com.", "192.0.2.1", "sideways"); err == nil {
		t.Error("WithEndpoint accepted an unknown state")
	}
	for _, bad := range []string{"not-an-ip", "198.51.100", "2001:db8::x", "host .example.net", "a/b.example.net"} {
		if _, err := base.WithEndpoint("www.example.com.", bad, AdminDown); err == nil {
			t.Errorf("WithEndpoint accepted %q, neither an address nor a CNAME target", bad)
		}
	}
	// A CNAME endpoint is named by its target, in any case, with or
	// without the final dot.
	cn, err := base.WithEndpoint("www.example.com.", "App.Example.NET", AdminDrain)
	if err != nil {
		t.Fatalf("WithEndpoint of a CNAME target: %v", err)
	}
	if st, ok := cn.Endpoint("www.example.com.", "app.example.net."); !ok || st != AdminDrain {
		t.Errorf("the CNAME endpoint's state: %q, %v; want drain", st, ok)
	}
	cw, err := cn.WithWeight("www.example.com.", "app.example.net.", 7)
	if err != nil {
		t.Fatalf("WithWeight of a CNAME target: %v", err)
	}
	if w, ok := cw.Weight("www.example.com.", "APP.example.net"); !ok || w != 7 {
		t.Errorf("the CNAME endpoint's weight: %d, %v; want 7", w, ok)
	}

	path := filepath.Join(t.TempDir(), "admin_state.yaml")
	if err := changed.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Operator overrides of endpoint and region health (up, down or drain).
endpoints:
  "api.example.com./192.0.2.7": drain
  "www.example.com./198.51.100.10": drain
regions:
  "example.com./ap-south": up
`
	if string(data) != want {
		t.Errorf("saved file:\n%s\nwant:\n%s", data, want)
	}
	loaded, err := LoadOverrides(path)
	if err != nil {
		t.Fatalf("LoadOverrides after Save: %v", err)
	}
	if !reflect.DeepEqual(loaded, changed) {
		t.Errorf("loaded %+v, saved %+v", loaded, changed)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 {
		t.Errorf("directory after Save holds %v (%v), want only the file", entries, err)
	}

	if err := NewOverrides().Save(path); err != nil {
		t.Fatalf("Save empty: %v", err)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), "endpoints: {}\nregions: {}\n") {
		t.Errorf("empty overrides saved as:\n%s", data)
	}
	if err := NewOverrides().Save(filepath.Join(t.TempDir(), "missing", "admin_state.yaml")); err == nil {
		t.Error("Save into a missing directory returned no error")
	}
}

func TestWatchOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin_state.yaml")

	type update struct {
		o   *Overrides
		err error
	}
	updates := make(chan update, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- WatchOverrides(ctx, path, 20*time.Millisecond, func(o *Overrides, err error) {
			updates <- update{o, err}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchOverrides: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("WatchOverrides did not return after cancel")
		}
	})
	next := func() update {
		t.Helper()
		select {
		case u := <-updates:
			return u
		case <-time.After(waitLimit):
			t.Fatal("no overrides update")
			return update{}
		}
	}

	// The initial load of a missing file is empty overrides.
	if u := next(); u.err != nil || len(u.o.Endpoints()) != 0 {
		t.Fatalf("initial update = %+v", u)
	}

	// Save renames into place; the watcher sees it.
	drained, _ := NewOverrides().WithEndpoint("www.example.com.", "198.51.100.10", AdminDrain)
	if err := drained.Save(path); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.err != nil {
		t.Fatalf("update after Save: %v", u.err)
	} else if st, _ := u.o.Endpoint("www.example.com.", "198.51.100.10"); st != AdminDrain {
		t.Fatalf("update after Save has endpoint state %q", st)
	}

	// Garbage is reported with its line and no overrides.
	if err := os.WriteFile(path, []byte("endpoints:\n  \"www.example.com./198.51.100.10\": drained\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.o != nil || u.err == nil || !strings.Contains(u.err.Error(), path+":2:") {
		t.Fatalf("update after garbage = %+v", u)
	}

	// Fixing the file reports it again, even though it was seen before.
	if err := drained.Save(path); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.err != nil || u.o == nil {
		t.Fatalf("update after fix = %+v", u)
	}

	// Rewriting the same content is skipped; the next real change is not.
	if err := drained.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if u := next(); u.err != nil || len(u.o.Endpoints()) != 0 {
		t.Fatalf("update after remove = %+v, want empty overrides", u)
	}
	select {
	case u := <-updates:
		t.Errorf("unexpected extra update %+v", u)
	default:
	}
}

func TestWatchOverridesMissingDirectory(t *testing.T) {
	err := WatchOverrides(context.Background(), filepath.Join(t.TempDir(), "nope", "admin_state.yaml"), 0, func(*Overrides, error) {})
	if err == nil {
		t.Error("WatchOverrides on a missing directory returned nil")
	}
}
