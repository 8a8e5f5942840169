package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestUnboundValidates serves a signed zone and puts Unbound, a validating
// resolver, in front of it: a stub zone pointing at Meridian on loopback
// and the zone's DS, from `meridian dnssec ds`, as its trust anchor. Every
// kind of answer comes back validated (AD set); with another DS as the
// anchor Unbound answers SERVFAIL. Everything goes to 127.0.0.1.
func TestUnboundValidates(t *testing.T) {
	unbound, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("unbound is not installed (apt-get install unbound)")
	}
	in := newInstance(t)
	if err := os.WriteFile(in.zoneFile("signed.test.yaml"), []byte(signedZoneFile), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(in.zones, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(meridianBin, "dnssec", "keygen", "signed.test.", "--dir", keys).CombinedOutput(); err != nil {
		t.Fatalf("dnssec keygen: %v\n%s", err, out)
	}
	out, err := exec.Command(meridianBin, "dnssec", "ds", "signed.test.", "--keys", keys).Output()
	if err != nil {
		t.Fatalf("dnssec ds: %v", err)
	}
	ds := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	p := startServer(t, in)

	good := startUnbound(t, unbound, ds, p.addr)
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"static.signed.test.", dns.TypeA, dns.RcodeSuccess},
		{"x.y.wild.signed.test.", dns.TypeA, dns.RcodeSuccess},
		{"alias.signed.test.", dns.TypeA, dns.RcodeSuccess},
		{"www.signed.test.", dns.TypeA, dns.RcodeSuccess},
		{"signed.test.", dns.TypeDNSKEY, dns.RcodeSuccess},
		{"nope.signed.test.", dns.TypeA, dns.RcodeSuccess}, // compact denial: NOERROR, no answer
		{"static.signed.test.", dns.TypeMX, dns.RcodeSuccess},
		{"b.ent.signed.test.", dns.TypeA, dns.RcodeSuccess},
		{"insecure.signed.test.", dns.TypeDS, dns.RcodeSuccess},
	} {
		r := resolve(t, good, c.name, c.qtype)
		if r.Rcode != c.rcode || !r.AuthenticatedData {
			t.Errorf("%s %s through Unbound: %s, AD %v; want %s, validated", c.name, dns.TypeToString[c.qtype],
				dns.RcodeToString[r.Rcode], r.AuthenticatedData, dns.RcodeToString[c.rcode])
		}
	}

	// Negative control: another key's DS as the anchor.
	f := strings.Fields(ds)
	f[len(f)-1] = strings.Repeat("0", len(f[len(f)-1]))
	bad := startUnbound(t, unbound, strings.Join(f, " "), p.addr)
	if r := resolve(t, bad, "static.signed.test.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("with a wrong anchor Unbound answered %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

// startUnbound runs Unbound on a free loopback port, validating with the
// trust anchor ds and asking server for signed.test. It is stopped when
// the test ends.
func startUnbound(t *testing.T, bin, ds string, server netip.AddrPort) netip.AddrPort {
	t.Helper()
	dir := t.TempDir()
	port := freeUDPPort(t)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  local-zone: "test." nodefault
  trust-anchor: %q
  qname-minimisation: no
  num-threads: 1
  so-reuseport: no
stub-zone:
  name: "signed.test"
  stub-addr: %s@%d
`, port, dir, ds, server.Addr(), server.Port())
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", path)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("unbound log:\n%s", log.String())
		}
	})
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	// Wait for it to answer, at most 10 s.
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("invalid.", dns.TypeA)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, _, err := c.Exchange(q, addr.String()); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound did not answer on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// resolve asks the resolver at addr with DO set and returns the reply.
func resolve(t *testing.T, addr netip.AddrPort, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, addr.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// freeUDPPort returns a UDP port free on 127.0.0.1 a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
