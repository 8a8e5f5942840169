package e2e

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/geo"
)

// TestBuiltInDemo runs `meridian serve` in an empty directory: with no
// --config and no ./meridian.yaml it serves the demo built into the binary
// (flags still apply, so it listens on a free port here).
func TestBuiltInDemo(t *testing.T) {
	p := startProcess(t, t.TempDir(), "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	if !strings.Contains(p.log.String(), "serving the built-in demo") {
		t.Errorf("no notice that the built-in demo is served:\n%s", p.log)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("185.0.64.0").To4()})
	r := exchange(t, p.addr, "udp", m)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "198.51.100.10" {
		t.Errorf("demo answer for a Paris subnet: %v", r.Answer)
	}
}

func run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(meridianBin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestExplainCommand(t *testing.T) {
	out, err := run(t, moduleRoot, "explain", "--config", "testdata/demo/meridian.yaml", "--client", "185.0.64.0/24", "www.example.com", "A")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"client 185.0.64.0 (client subnet /24)",
		"location country=FR continent=EU",
		"rule continent EU chose region eu-west",
		"candidate 1: eu-west",
		"endpoints 198.51.100.10",
		"ttl 30, ecs scope /18",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if out, err := run(t, moduleRoot, "explain", "--config", "testdata/demo/meridian.yaml", "--client", "192.0.2.1", "mail.example.com"); err == nil {
		t.Errorf("explain of a static name succeeded:\n%s", out)
	} else if !strings.Contains(out, "is not a service name") {
		t.Errorf("unhelpful error:\n%s", out)
	}
	if out, err := run(t, moduleRoot, "explain", "--config", "testdata/demo/meridian.yaml", "--client", "not-an-ip", "www.example.com"); err == nil {
		t.Errorf("a bad --client was accepted:\n%s", out)
	}
}

func TestGeoIPBuildCommand(t *testing.T) {
	dir := t.TempDir()
	v4 := filepath.Join(dir, "geoip")
	v6 := filepath.Join(dir, "geoip6")
	// Tor's format: decimal IPv4 ranges, text IPv6 ranges; 6to4 space as
	// Debian's file lists it.
	if err := os.WriteFile(v4, []byte("# tor\n3325256704,3325256959,US\n3325256960,3325257215,??\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v6, []byte("2001:db8:2::,2001:db8:2:ffff:ffff:ffff:ffff:ffff,DE\n2002::,2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff,NL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "countries.mmdb")
	msg, err := run(t, dir, "geoip", "build", "--format", "tor", "--in", v4, "--in", v6, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	db, err := geo.Open(geo.Paths{City: out})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for ip, cc := range map[string]string{"198.51.100.7": "US", "2001:db8:2::1": "DE", "198.51.101.1": ""} {
		if got := db.Lookup(mustAddr(t, ip)).Country; got != cc {
			t.Errorf("%s: country %q, want %q", ip, got, cc)
		}
	}

	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte("network,country,continent,lat,lon,asn\n203.0.113.0/24,SG,AS,1.35,103.82,64499\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := run(t, dir, "geoip", "build", "--format", "csv", "--in", csv, "--out", out); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	db2, err := geo.Open(geo.Paths{City: out})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if loc := db2.Lookup(mustAddr(t, "203.0.113.9")); loc.Country != "SG" || loc.ASN != 64499 || !loc.HasCoordinates {
		t.Errorf("csv build: %v", loc)
	}
	if msg, err := run(t, dir, "geoip", "build", "--format", "csv", "--in", filepath.Join(dir, "missing.csv"), "--out", out); err == nil {
		t.Errorf("a missing input was accepted:\n%s", msg)
	}
}

func TestVersionCommand(t *testing.T) {
	out, err := run(t, moduleRoot, "version")
	if err != nil || !strings.HasPrefix(out, "meridian ") {
		t.Errorf("version: %q %v", out, err)
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
