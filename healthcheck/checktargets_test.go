package healthcheck

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/meridian-dns/meridian/healthcheck/check"
)

// TestCheckTargetsChangesNothing: CheckTargets refuses what SetTargets
// refuses, with the same errors, accepts what it accepts, and registers
// nothing either way.
func TestCheckTargetsChangesNothing(t *testing.T) {
	web := check.Target{Spec: check.Spec{Name: "web", Type: check.TCP, Port: 80}, Address: loopback4}
	script := check.Target{Spec: check.Spec{Name: "script", Type: check.Exec, Command: []string{"true"}}, Address: loopback4}
	badPort := check.Target{Spec: check.Spec{Name: "web", Type: check.TCP, Port: 70000}, Address: loopback4}
	noAddr := check.Target{Spec: check.Spec{Name: "web", Type: check.TCP, Port: 80}, Address: netip.Addr{}}

	m := NewManager(Options{})
	if err := m.SetTargets([]check.Target{web}); err != nil {
		t.Fatal(err)
	}
	before := m.Status()
	for _, tc := range []struct {
		name    string
		targets []check.Target
		want    string // substring of the error; "" for none
	}{
		{"valid", []check.Target{web, {Spec: check.Spec{Name: "other", Type: check.TCP, Port: 81}, Address: loopback4}}, ""},
		{"none", nil, ""},
		{"exec not allowed", []check.Target{web, script}, `check "script" at 127.0.0.1: exec checks are not allowed`},
		{"invalid spec", []check.Target{badPort}, "port 70000 out of range"},
		{"no address", []check.Target{noAddr}, "target has no address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.CheckTargets(tc.targets)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("CheckTargets = %v, want %q", err, tc.want)
			}
			if m.Status() != before {
				t.Error("CheckTargets published a new status map")
			}
			if _, ok := m.Status().Get(web.Key()); !ok || m.Status().Len() != 1 {
				t.Errorf("CheckTargets changed the targets: %d probed", m.Status().Len())
			}
			// SetTargets on a fresh manager decides the same way.
			c := NewManager(Options{})
			if serr := c.SetTargets(tc.targets); (serr == nil) != (err == nil) || serr != nil && serr.Error() != err.Error() {
				t.Errorf("SetTargets = %v, CheckTargets = %v; want the same", serr, err)
			}
		})
	}
}
