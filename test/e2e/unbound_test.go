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
	in, keys := newSignedInstance(t)
	out, err := exec.Command(meridianBin, "dnssec", "ds", "signed.test.", "--keys", keys).Output()
	if err != nil {
		t.Fatalf("dnssec ds: %v", err)
	}
	ds := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	// Locate clients with the demo GeoIP database, and force the failover
	// service's eu-west endpoint down.
	adminState := filepath.Join(in.dir, "admin-state.yaml")
	if err := os.WriteFile(adminState, []byte("endpoints:\n  \"failover.signed.test./198.51.100.20\": down\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, fmt.Sprintf("geoip:\n  city: %q\nadmin_state: %q\n",
		filepath.Join(moduleRoot, "testdata", "geoip", "demo-city.mmdb"), adminState)...)
	if err := os.WriteFile(in.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.zoneFile("signed.test.yaml"), []byte(signedZoneFile+geoServices), 0o644); err != nil {
		t.Fatal(err)
	}
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

	// Service answers for clients in three regions, their subnets carried
	// by Unbound to Meridian as Client Subnet (Unbound's subnetcache), and
	// a failover answer with its degraded TTL: each validated.
	for _, c := range []struct {
		subnet, name, want string
		ttl                uint32
	}{
		{"185.0.64.0/24", "geo.signed.test.", "198.51.100.10", 30},   // Paris: eu-west
		{"64.1.0.0/24", "geo.signed.test.", "192.0.2.10", 30},        // San Jose: us-east
		{"103.0.0.0/24", "geo.signed.test.", "203.0.113.10", 30},     // Singapore: ap-south
		{"185.0.64.0/24", "failover.signed.test.", "192.0.2.20", 10}, // eu-west down: us-east, degraded
	} {
		r := resolveFrom(t, good, c.name, dns.TypeA, c.subnet)
		if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
			t.Errorf("%s for %s through Unbound: %s, AD %v, answer %v", c.name, c.subnet, dns.RcodeToString[r.Rcode], r.AuthenticatedData, r.Answer)
			continue
		}
		var got []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				got = append(got, a.A.String())
				if a.Hdr.Ttl > c.ttl {
					t.Errorf("%s for %s: TTL %d, want at most %d", c.name, c.subnet, a.Hdr.Ttl, c.ttl)
				}
			}
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s for %s: %v, want %s", c.name, c.subnet, got, c.want)
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
// the test ends. A port taken between choosing it and Unbound binding it
// (UDP and TCP) means another try on another port, up to five.
func startUnbound(t *testing.T, bin, ds string, server netip.AddrPort) netip.AddrPort {
	t.Helper()
	for try := 1; ; try++ {
		addr, ok := tryUnbound(t, bin, ds, server)
		if ok {
			return addr
		}
		if try == 5 {
			t.Fatalf("unbound did not start in %d tries", try)
		}
	}
}

// tryUnbound starts Unbound once and reports whether it answers.
func tryUnbound(t *testing.T, bin, ds string, server netip.AddrPort) (netip.AddrPort, bool) {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
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
  module-config: "subnetcache validator iterator"
  send-client-subnet: %s
  client-subnet-always-forward: yes
  max-client-subnet-ipv4: 24
  local-zone: "test." nodefault
  trust-anchor: %q
  qname-minimisation: no
  num-threads: 1
  so-reuseport: no
stub-zone:
  name: "signed.test"
  stub-addr: %s@%d
`, port, dir, server.Addr(), ds, server.Addr(), server.Port())
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
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	// Wait for it to answer, at most 10 s, or to give up on its port.
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("invalid.", dns.TypeA)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, _, err := c.Exchange(q, addr.String()); err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("unbound log:\n%s", log.String())
				}
			})
			return addr, true
		}
		select {
		case <-exited:
			t.Logf("unbound exited on port %d:\n%s", port, log.String())
			return addr, false
		default:
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("unbound did not answer on %s:\n%s", addr, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a port free on 127.0.0.1 for both UDP and TCP a moment
// ago.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP on 127.0.0.1 in 100 tries")
	return 0
}

// geoServices are services of signed.test. routed by the client's
// location: the demo GeoIP database places 185.0.64.0/24 in Paris,
// 64.1.0.0/24 in San Jose and 103.0.0.0/24 in Singapore.
const geoServices = `  geo:
    ttl: 30
    routing: nearest
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: ap-south, address: 203.0.113.10 }
  failover:
    ttl: 30
    degraded_ttl: 10
    routing: nearest
    endpoints:
      - { region: us-east, address: 192.0.2.20 }
      - { region: eu-west, address: 198.51.100.20 }
`

// resolveFrom asks the resolver at addr with DO set and a Client Subnet
// option for subnet.
func resolveFrom(t *testing.T, addr netip.AddrPort, name string, qtype uint16, subnet string) *dns.Msg {
	t.Helper()
	p := netip.MustParsePrefix(subnet)
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(1232, true)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
		SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())})
	c := &dns.Client{Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, addr.String())
	if err != nil {
		t.Fatalf("%s for %s: %v", name, subnet, err)
	}
	return r
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
