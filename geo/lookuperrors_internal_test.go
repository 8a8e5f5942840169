package geo

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// TestLookupErrorsRateLimited checks that failed lookups are all counted
// but logged at most once per LookupErrorLogInterval for each database,
// each line saying how many were left out since the one before.
func TestLookupErrorsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	e := newLookupErrors(slog.New(slog.NewTextHandler(&buf, nil)))
	var now int64
	e.now = func() int64 { return now }
	city := &DatabaseInfo{Role: RoleCity, Path: "city.mmdb"}
	asn := &DatabaseInfo{Role: RoleASN, Path: "asn.mmdb"}
	network := netip.MustParsePrefix("192.0.2.0/24")
	errBad := errors.New("bad record")

	lines := func() []string {
		t.Helper()
		out := strings.Split(strings.TrimSpace(buf.String()), "\n")
		buf.Reset()
		if len(out) == 1 && out[0] == "" {
			return nil
		}
		return out
	}

	for range 5 {
		e.record(0, city, network, errBad)
	}
	got := lines()
	if len(got) != 1 || !strings.Contains(got[0], "database=city file=city.mmdb network=192.0.2.0/24 error=\"bad record\" suppressed=0") {
		t.Fatalf("five errors at once logged %q, want one line with suppressed=0", got)
	}
	// Another database has its own allowance.
	e.record(2, asn, netip.Prefix{}, errBad)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "database=asn") || strings.Contains(got[0], "network=") {
		t.Fatalf("first ASN error logged %q, want one line without a network", got)
	}

	now += int64(LookupErrorLogInterval) - 1
	e.record(0, city, network, errBad)
	if got := lines(); len(got) != 0 {
		t.Fatalf("an error within the interval logged %q", got)
	}
	now++
	e.record(0, city, network, errBad)
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "suppressed=5") {
		t.Fatalf("the first error after the interval logged %q, want one line with suppressed=5", got)
	}

	// Counting an error that is not logged costs a failing query nothing
	// but the atomics.
	if n := testing.AllocsPerRun(100, func() { e.record(0, city, network, errBad) }); n != 0 {
		t.Errorf("counting an error allocates %v times, want 0", n)
	}
	if got := lines(); len(got) != 0 {
		t.Fatalf("errors within the interval logged %q", got)
	}

	if c, a, n := e.count(RoleCity), e.count(RoleASN), e.count(RoleCountry); c != 108 || a != 1 || n != 0 {
		t.Errorf("counts city=%d asn=%d country=%d, want 108, 1, 0", c, a, n)
	}
	if e.count(Role("other")) != 0 {
		t.Error("an unknown role has a count")
	}
}
