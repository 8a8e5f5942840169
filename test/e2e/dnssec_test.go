package e2e

import (
	"encoding/base64"
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

// signedZoneFile is a signed zone with every kind of answer delv is asked
// to validate.
const signedZoneFile = `zone: signed.test.
soa: {mname: ns1.signed.test., rname: hostmaster.signed.test., serial: 1, minimum: 300}
ns: [ns1.signed.test.]
dnssec: {enabled: true, keys: keys}
records: |
  ns1       IN A     192.0.2.53
  static    IN A     192.0.2.80
  *.wild    IN A     192.0.2.99
  alias     IN CNAME www
  a.b.ent   IN TXT   "below an empty non-terminal"
  insecure  IN NS    ns1.elsewhere.test.
regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [48.86, 2.35] }
  ap-south: { location: [1.35, 103.82] }
services:
  www:
    ttl: 30
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: eu-west, address: 198.51.100.10 }
`

// TestDNSSECValidates serves a zone signed with a key made by `meridian
// dnssec keygen` and has delv (BIND's validating resolver library) validate
// every kind of answer with the zone's DNSKEY as its trust anchor:
// positive answers (static, wildcard, CNAME into a service, the service,
// DNSKEY) and proofs of nonexistence (a name, a type, an empty
// non-terminal, and the DS of an insecure delegation). With another key as
// the anchor, validation fails. Everything goes to 127.0.0.1.
func TestDNSSECValidates(t *testing.T) {
	if _, err := exec.LookPath("delv"); err != nil {
		t.Skip("delv is not on PATH (apt-get install bind9-dnsutils)")
	}
	in, _ := newSignedInstance(t)
	p := startServer(t, in)

	q := new(dns.Msg)
	q.SetQuestion("signed.test.", dns.TypeDNSKEY)
	q.SetEdns0(4096, true)
	r := exchange(t, p.addr, "udp", q)
	var key *dns.DNSKEY
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			key = k
		}
	}
	if key == nil {
		t.Fatalf("no DNSKEY at the apex: %v", r)
	}
	anchor := func(k *dns.DNSKEY) string {
		f := filepath.Join(t.TempDir(), "anchor.conf")
		body := fmt.Sprintf("trust-anchors {\n  signed.test. static-key %d %d %d \"%s\";\n};\n", k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := anchor(key)
	delv := func(anchorFile, name, qtype string) string {
		t.Helper()
		out, _ := exec.Command("delv", "@"+p.addr.Addr().String(), "-p", fmt.Sprint(p.addr.Port()),
			"-a", anchorFile, "+root=signed.test", name, qtype).CombinedOutput()
		return string(out)
	}
	for _, c := range []struct{ name, qtype, want string }{
		{"static.signed.test.", "A", "; fully validated"},
		{"x.y.wild.signed.test.", "A", "; fully validated"},
		{"alias.signed.test.", "A", "; fully validated"},
		{"www.signed.test.", "A", "; fully validated"},
		{"www.signed.test.", "AAAA", "; negative response, fully validated"},
		{"signed.test.", "DNSKEY", "; fully validated"},
		{"nope.signed.test.", "A", "; negative response, fully validated"},
		{"static.signed.test.", "MX", "; negative response, fully validated"},
		{"b.ent.signed.test.", "A", "; negative response, fully validated"},
		{"insecure.signed.test.", "DS", "; negative response, fully validated"},
	} {
		if out := delv(good, c.name, c.qtype); !strings.Contains(out, c.want) {
			t.Errorf("delv %s %s: want %q in\n%s", c.name, c.qtype, c.want, out)
		}
	}

	// Negative control: the same answers with one signature tampered with
	// on the way, through a proxy on loopback.
	// The same proxy without tampering validates, so it is the flipped bit
	// that fails.
	for _, tamper := range []bool{false, true} {
		proxy := tamperingProxy(t, p.addr, tamper)
		out, _ := exec.Command("delv", "@"+proxy.Addr().String(), "-p", fmt.Sprint(proxy.Port()),
			"-a", good, "+root=signed.test", "static.signed.test.", "A").CombinedOutput()
		if validated := strings.Contains(string(out), "fully validated"); validated == tamper {
			t.Errorf("through the proxy, tampering %v: validated %v\n%s", tamper, validated, out)
		}
	}

	// Negative control: a zone signed with another key than the anchor.
	other := *key
	other.PublicKey = strings.Repeat("A", len(key.PublicKey)-2) + "=="
	if out := delv(anchor(&other), "static.signed.test.", "A"); strings.Contains(out, "fully validated") {
		t.Errorf("validated against the wrong key:\n%s", out)
	}
}

// tamperingProxy relays UDP queries to server and, with tamper, flips a bit
// in the signature of every RRSIG over an A RRset in the replies. It stops
// when the test ends.
func tamperingProxy(t *testing.T, server netip.AddrPort, tamper bool) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			c := &dns.Client{Timeout: 2 * time.Second}
			r, _, err := c.Exchange(q, server.String())
			if err != nil {
				continue
			}
			for _, rr := range r.Answer {
				if s, ok := rr.(*dns.RRSIG); ok && tamper && s.TypeCovered == dns.TypeA {
					sig, err := base64.StdEncoding.DecodeString(s.Signature)
					if err == nil && len(sig) > 0 {
						sig[len(sig)/2] ^= 0x01
						s.Signature = base64.StdEncoding.EncodeToString(sig)
					}
				}
			}
			if out, err := r.Pack(); err == nil {
				pc.WriteToUDP(out, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// newSignedInstance is an instance serving signedZoneFile beside the demo
// zones, with a key made by meridian dnssec keygen in the zone's keys
// directory, which it returns.
func newSignedInstance(t *testing.T) (*instance, string) {
	t.Helper()
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
	return in, keys
}
