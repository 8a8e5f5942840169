package zones

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestReloadValidatesAsideAndHandsOnAfterTheSwap: Validate sees the new
// snapshot before anything else does and while the old one serves; a
// snapshot it rejects (or one that does not load) is never swapped in nor
// handed to Swapped; Swapped gets exactly the snapshot in service, once it
// serves, with that snapshot's health-check targets.
func TestReloadValidatesAsideAndHandsOnAfterTheSwap(t *testing.T) {
	zone := func(port int) string {
		return header + regionsBlock + fmt.Sprintf("checks:\n  web: { type: tcp, port: %d }\n", port) +
			"services:\n  www:\n    check: web\n    endpoints:\n      - { region: us-east, address: 192.0.2.1 }\n"
	}
	port := func(s *Snapshot) int {
		targets := s.Targets()
		if len(targets) != 1 {
			t.Fatalf("snapshot has %d targets, want 1", len(targets))
		}
		return targets[0].Spec.Port
	}
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", zone(80))
	s, _ := newLoggedStore(t, dir)

	var validated, swapped []int
	s.Validate = func(snap *Snapshot) error {
		if s.Current() == snap {
			t.Error("Validate got the snapshot already in service")
		}
		validated = append(validated, port(snap))
		if port(snap) == 81 {
			return errors.New("port 81 is refused")
		}
		return nil
	}
	s.Swapped = func(snap *Snapshot) {
		if s.Current() != snap {
			t.Error("Swapped got a snapshot that is not in service")
		}
		swapped = append(swapped, port(snap))
	}
	reload := func(body string) (bool, error) {
		t.Helper()
		writeFile(t, dir, "z.yaml", body)
		return s.Reload()
	}

	if changed, err := reload(zone(81)); changed || err == nil || !strings.Contains(err.Error(), "port 81 is refused") {
		t.Fatalf("reload refused by Validate = %v, %v", changed, err)
	}
	if changed, err := reload(zone(82) + "bad: key\n"); changed || err == nil {
		t.Fatalf("reload of a broken zone = %v, %v", changed, err)
	}
	if len(swapped) != 0 || port(s.Current()) != 80 {
		t.Fatalf("after refused reloads: handed on %v, serving port %d; want nothing handed on, port 80", swapped, port(s.Current()))
	}
	if changed, err := reload(zone(82)); !changed || err != nil {
		t.Fatalf("good reload = %v, %v", changed, err)
	}
	if changed, err := s.Reload(); changed || err != nil {
		t.Fatalf("reload of unchanged files = %v, %v", changed, err)
	}
	if fmt.Sprint(validated) != "[81 82]" || fmt.Sprint(swapped) != "[82]" || port(s.Current()) != 82 {
		t.Errorf("validated %v, handed on %v, serving port %d; want [81 82], [82], 82", validated, swapped, port(s.Current()))
	}
}
