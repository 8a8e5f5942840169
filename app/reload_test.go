package app

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/zones"
)

// checkedZone is a zone whose service www is checked by check, on
// 192.0.2.1.
func checkedZone(check string) string {
	return "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com.}\nns: [ns1.example.com.]\n" +
		"regions:\n  us-east: { location: [39.04, -77.49], countries: [US] }\n" +
		"checks:\n  web: " + check + "\n" +
		"services:\n  www:\n    check: web\n    endpoints:\n      - { region: us-east, address: 192.0.2.1 }\n"
}

// probed returns what the checker probes, as sorted key strings.
func probed(a *App) []string {
	var out []string
	for k := range a.Checker.Status().All() {
		out = append(out, k.String())
	}
	slices.Sort(out)
	return out
}

// TestReloadHandsTargetsOnOnlyOnceServed: zones the checker would refuse
// (an exec check on a server that does not allow them) are rejected before
// anything sees them, so the old zones serve and the old targets are
// probed; zones that pass are swapped in first and only then handed to the
// checker.
func TestReloadHandsTargetsOnOnlyOnceServed(t *testing.T) {
	dir := t.TempDir()
	zonesDir := filepath.Join(dir, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	zoneFile := filepath.Join(zonesDir, "example.com.yaml")
	write := func(p, body string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(zoneFile, checkedZone("{ type: tcp, port: 80 }"))
	write(filepath.Join(dir, "meridian.yaml"), "listen: [\"127.0.0.1:0\"]\nzones: "+zonesDir+"\nhttp: {listen: \"\"}\n")
	cfg, err := config.Load(filepath.Join(dir, "meridian.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	if got := probed(a); !slices.Equal(got, []string{"tcp://192.0.2.1:80"}) {
		t.Fatalf("probed at start: %v", got)
	}
	served := a.Zones.Current()

	// Watch the hand-over: when the checker is handed the new targets, the
	// new zones must already serve, and the checker must not have them yet.
	swapped := a.Zones.Swapped
	var handed []string
	a.Zones.Swapped = func(s *zones.Snapshot) {
		if a.Zones.Current() != s {
			t.Error("targets handed on before their zones serve")
		}
		if slices.Contains(probed(a), "tcp://192.0.2.1:81") {
			t.Error("the checker had the new targets before the swap")
		}
		swapped(s)
		handed = probed(a)
	}

	write(zoneFile, checkedZone("{ type: exec, command: [/bin/true] }"))
	if err := a.Reload("test"); err == nil || !strings.Contains(err.Error(), "exec checks are not allowed") {
		t.Fatalf("reload with an exec check: %v", err)
	}
	if a.Zones.Current() != served || handed != nil {
		t.Fatal("a refused reload was swapped in or handed to the checker")
	}
	if got := probed(a); !slices.Equal(got, []string{"tcp://192.0.2.1:80"}) {
		t.Fatalf("probed after a refused reload: %v, want the previous target", got)
	}

	write(zoneFile, checkedZone("{ type: tcp, port: 81 }"))
	if err := a.Reload("test"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if a.Zones.Current() == served {
		t.Fatal("good reload not swapped in")
	}
	if !slices.Equal(handed, []string{"tcp://192.0.2.1:81"}) {
		t.Errorf("probed after the swap: %v, want the new target only", handed)
	}
}
