package meridian_test

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// dataPackages hold the zone data, checks as data and the routing
// decision. None of them may depend, directly or through another package,
// on what forbidden lists: the health checker and the HTTP and exec
// clients of its probers are wired in by app. (crypto/tls is not listed:
// github.com/miekg/dns imports it for its own client.)
var dataPackages = []string{
	"github.com/meridian-dns/meridian/zones",
	"github.com/meridian-dns/meridian/routing",
	"github.com/meridian-dns/meridian/healthcheck/check",
}

var forbidden = []string{"github.com/meridian-dns/meridian/healthcheck", "net/http", "os/exec"}

// TestLayering holds the layering of docs/architecture.md: zones and
// routing see health checks as plain data (healthcheck/check) and health
// as an interface (routing.Health), so they never depend on the package
// that probes.
func TestLayering(t *testing.T) {
	for _, pkg := range dataPackages {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			var stderr []byte
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, pkg) {
			t.Fatalf("go list -deps %s does not list the package itself:\n%s", pkg, out)
		}
		for _, f := range forbidden {
			if slices.Contains(deps, f) {
				t.Errorf("%s depends on %s", pkg, f)
			}
		}
	}
}
