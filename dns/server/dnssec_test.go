package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dnssec"
	"github.com/meridian-dns/meridian/zones"
)

// signedZone is a signed zone with every kind of answer: static data, a
// wildcard, a CNAME into a service, a service, an empty non-terminal, and
// delegations with and without DS.
var signedZone = `
zone: signed.test.
ttl: 3600
soa: {mname: ns1.signed.test., rname: hostmaster.signed.test., serial: 1, minimum: 300, ttl: 600}
ns: [ns1.signed.test.]
dnssec: {enabled: true, keys: keys}
records: |
  ns1        IN A      192.0.2.53
  static     IN A      192.0.2.80
  static     IN TXT    "static text"
  *.wild     IN A      192.0.2.99
  alias      IN CNAME  www
  a.b.ent    IN TXT    "below an empty non-terminal"
  big        IN TXT    "` + strings.Repeat("x", 200) + `"
  big        IN TXT    "` + strings.Repeat("y", 200) + `"
  insecure   IN NS     ns1.elsewhere.test.
  secure     IN NS     ns1.elsewhere.test.
  secure     IN DS     12345 13 2 ` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `
regions:
  us-east: { location: [39.04, -77.49] }
  eu-west: { location: [53.35, -6.26] }
services:
  www:
    ttl: 30
    endpoints:
      - { region: us-east, address: 192.0.2.10 }
      - { region: eu-west, address: 198.51.100.10 }
      - { region: eu-west, address: "2001:db8::10" }
`

// newSignedHandler serves signedZone with a fresh key, and returns the
// handler and the zone's DNSKEY.
func newSignedHandler(t testing.TB, opts Options) (*Handler, *dns.DNSKEY) {
	t.Helper()
	dir := writeZones(t, map[string]string{"signed.test.yaml": signedZone})
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	k, err := dnssec.Generate("signed.test.", dnssec.DefaultAlgorithm, 257, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.WriteFiles(keys); err != nil {
		t.Fatal(err)
	}
	snap, err := zones.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var p atomic.Pointer[zones.Snapshot]
	p.Store(snap)
	return NewHandler(&p, nil, opts, nil), k.DNSKEY
}

// doQuery is a query for name and qtype with the DO bit, and CO when co.
func doQuery(name string, qtype uint16, co bool) *dns.Msg {
	m := query(name, qtype)
	m.SetEdns0(4096, true)
	if co {
		m.IsEdns0().SetCo()
	}
	return m
}

// verifySections checks that every RRset of the answer and authority
// sections has a signature by key that verifies, and that every RRSIG
// covers an RRset there. It returns the sections' records by type.
func verifySections(t *testing.T, r *dns.Msg, key *dns.DNSKEY) map[uint16][]dns.RR {
	t.Helper()
	byType := map[uint16][]dns.RR{}
	for _, section := range [][]dns.RR{r.Answer, r.Ns} {
		sets := map[string][]dns.RR{}
		var sigs []*dns.RRSIG
		for _, rr := range section {
			byType[rr.Header().Rrtype] = append(byType[rr.Header().Rrtype], rr)
			if s, ok := rr.(*dns.RRSIG); ok {
				sigs = append(sigs, s)
				continue
			}
			k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
			sets[k] = append(sets[k], rr)
		}
		for k, set := range sets {
			if set[0].Header().Rrtype == dns.TypeNS && !r.Authoritative {
				continue // a referral's NS belong to the child: not signed
			}
			ok := false
			for _, s := range sigs {
				if strings.ToLower(s.Hdr.Name)+"/"+dns.TypeToString[s.TypeCovered] != k {
					continue
				}
				if err := s.Verify(key, set); err != nil {
					t.Errorf("RRSIG over %s does not verify: %v\n%v", k, err, r)
				} else if !s.ValidityPeriod(time.Now()) {
					t.Errorf("RRSIG over %s is not valid now: %v", k, s)
				} else {
					ok = true
				}
			}
			if !ok {
				t.Errorf("RRset %s has no valid signature in\n%v", k, r)
			}
		}
	}
	return byType
}

func TestSignedAnswers(t *testing.T) {
	for _, fullOnly := range []bool{false, true} {
		h, key := newSignedHandler(t, Options{FullPathOnly: fullOnly})
		ask := func(name string, qtype uint16, co bool) *dns.Msg {
			t.Helper()
			// Twice: the second ask may find an unsigned template in the
			// cache, which a DO query must not replay.
			exchange(t, h, query(name, qtype), UDP)
			r := exchange(t, h, doQuery(name, qtype, co), UDP)
			if r == nil {
				t.Fatalf("%s %s: no reply", name, dns.TypeToString[qtype])
			}
			return r
		}
		nsecAt := func(r *dns.Msg, owner string) *dns.NSEC {
			t.Helper()
			for _, rr := range r.Ns {
				if n, ok := rr.(*dns.NSEC); ok && strings.EqualFold(n.Hdr.Name, owner) {
					return n
				}
			}
			t.Fatalf("no NSEC at %s in\n%v", owner, r)
			return nil
		}
		hasType := func(n *dns.NSEC, typ uint16) bool {
			for _, b := range n.TypeBitMap {
				if b == typ {
					return true
				}
			}
			return false
		}

		t.Run("static", func(t *testing.T) {
			r := ask("static.signed.test.", dns.TypeA, false)
			if got := verifySections(t, r, key); len(got[dns.TypeA]) != 1 || len(got[dns.TypeRRSIG]) != 1 {
				t.Errorf("answer %v", r.Answer)
			}
		})
		t.Run("unsigned without DO", func(t *testing.T) {
			r := exchange(t, h, query("static.signed.test.", dns.TypeA), UDP)
			for _, rr := range append(r.Answer, r.Ns...) {
				if rr.Header().Rrtype == dns.TypeRRSIG || rr.Header().Rrtype == dns.TypeNSEC {
					t.Errorf("a query without DO got %v", rr)
				}
			}
		})
		t.Run("DNSKEY", func(t *testing.T) {
			r := ask("signed.test.", dns.TypeDNSKEY, false)
			got := verifySections(t, r, key)
			if len(got[dns.TypeDNSKEY]) != 1 || got[dns.TypeDNSKEY][0].(*dns.DNSKEY).KeyTag() != key.KeyTag() {
				t.Errorf("DNSKEY RRset %v", got[dns.TypeDNSKEY])
			}
		})
		t.Run("CDS", func(t *testing.T) {
			r := ask("signed.test.", dns.TypeCDS, false)
			if got := verifySections(t, r, key); len(got[dns.TypeCDS]) != 1 {
				t.Errorf("CDS %v", r)
			}
		})
		t.Run("wildcard", func(t *testing.T) {
			r := ask("Deep.Name.Wild.signed.test.", dns.TypeA, false)
			got := verifySections(t, r, key)
			if len(got[dns.TypeA]) != 1 {
				t.Fatalf("answer %v", r)
			}
			if sig := got[dns.TypeRRSIG][0].(*dns.RRSIG); sig.Labels != 3 {
				t.Errorf("wildcard RRSIG Labels %d, want 3 (*.wild.signed.test. without the *)", sig.Labels)
			}
		})
		t.Run("service", func(t *testing.T) {
			r := ask("www.signed.test.", dns.TypeA, false)
			if got := verifySections(t, r, key); len(got[dns.TypeA]) == 0 {
				t.Errorf("answer %v", r)
			}
		})
		t.Run("CNAME to a service", func(t *testing.T) {
			r := ask("alias.signed.test.", dns.TypeA, false)
			got := verifySections(t, r, key)
			if len(got[dns.TypeCNAME]) != 1 || len(got[dns.TypeA]) == 0 || len(got[dns.TypeRRSIG]) != 2 {
				t.Errorf("answer %v", r.Answer)
			}
		})
		t.Run("nonexistent name, compact", func(t *testing.T) {
			r := ask("nope.signed.test.", dns.TypeA, false)
			if r.Rcode != dns.RcodeSuccess {
				t.Errorf("rcode %s, want NOERROR (compact denial without CO)", dns.RcodeToString[r.Rcode])
			}
			verifySections(t, r, key)
			n := nsecAt(r, "nope.signed.test.")
			if n.NextDomain != "\\000.nope.signed.test." || !hasType(n, dns.TypeNXNAME) || !hasType(n, dns.TypeRRSIG) || !hasType(n, dns.TypeNSEC) || len(n.TypeBitMap) != 3 {
				t.Errorf("NSEC %v, want next \\000.nope.signed.test. and types RRSIG NSEC NXNAME", n)
			}
			if r := ask("nope.signed.test.", dns.TypeA, true); r.Rcode != dns.RcodeNameError {
				t.Errorf("with CO: rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
			}
		})
		t.Run("NODATA", func(t *testing.T) {
			r := ask("static.signed.test.", dns.TypeMX, false)
			verifySections(t, r, key)
			n := nsecAt(r, "static.signed.test.")
			if !hasType(n, dns.TypeA) || !hasType(n, dns.TypeTXT) || hasType(n, dns.TypeMX) || hasType(n, dns.TypeNXNAME) {
				t.Errorf("NODATA NSEC %v, want A and TXT listed", n)
			}
		})
		t.Run("service NODATA", func(t *testing.T) {
			r := ask("www.signed.test.", dns.TypeTXT, false)
			verifySections(t, r, key)
			if n := nsecAt(r, "www.signed.test."); !hasType(n, dns.TypeA) || !hasType(n, dns.TypeAAAA) {
				t.Errorf("a service's NSEC %v must list the address types it answers", n)
			}
		})
		t.Run("empty non-terminal", func(t *testing.T) {
			r := ask("b.ent.signed.test.", dns.TypeA, false)
			verifySections(t, r, key)
			n := nsecAt(r, "b.ent.signed.test.")
			if len(n.TypeBitMap) != 2 || !hasType(n, dns.TypeRRSIG) || !hasType(n, dns.TypeNSEC) {
				t.Errorf("empty non-terminal NSEC %v, want RRSIG and NSEC only", n)
			}
		})
		t.Run("insecure delegation", func(t *testing.T) {
			r := ask("www.insecure.signed.test.", dns.TypeA, false)
			if r.Authoritative {
				t.Fatalf("not a referral: %v", r)
			}
			verifySections(t, r, key)
			n := nsecAt(r, "insecure.signed.test.")
			if !hasType(n, dns.TypeNS) || hasType(n, dns.TypeDS) {
				t.Errorf("NSEC at the cut %v must list NS and not DS", n)
			}
		})
		t.Run("secure delegation", func(t *testing.T) {
			r := ask("www.secure.signed.test.", dns.TypeA, false)
			if got := verifySections(t, r, key); len(got[dns.TypeDS]) != 1 {
				t.Errorf("referral %v carries no DS", r)
			}
		})
		t.Run("signed static answers replayed from the cache", func(t *testing.T) {
			for _, name := range []string{"static.signed.test.", "nope.signed.test.", "x.wild.signed.test."} {
				m := doQuery(name, dns.TypeA, false)
				wire := mustPack(t, m)
				first := h.Serve(wire, testClient, UDP, nil)
				second := h.Serve(wire, testClient, UDP, nil)
				// ECDSA signatures of denial records made per query differ in
				// their bytes; replayed from the cache they are the same.
				if !fullOnly && string(first) != string(second) {
					t.Errorf("%s: the second ask (from the cache) differs from the first:\n%x\n%x", name, first, second)
				}
				r := new(dns.Msg)
				if err := r.Unpack(second); err != nil {
					t.Fatal(err)
				}
				verifySections(t, r, key)
				// Without DO the same question gets the unsigned answer.
				if r := exchange(t, h, query(name, dns.TypeA), UDP); len(r.Answer)+len(r.Ns) > 0 {
					for _, rr := range append(r.Answer, r.Ns...) {
						if rr.Header().Rrtype == dns.TypeRRSIG {
							t.Errorf("%s without DO after a DO ask: %v", name, rr)
						}
					}
				}
			}
		})
		t.Run("signed service answers replayed from the cache", func(t *testing.T) {
			withMetrics(h)
			wire := mustPack(t, doQuery("www.signed.test.", dns.TypeA, false))
			first := h.Serve(wire, testClient, UDP, nil)
			before := fastAnswers(t, h)
			for i := range 3 {
				again := h.Serve(wire, testClient, UDP, nil)
				if string(again) != string(first) {
					t.Errorf("ask %d differs from the first:\n%x\n%x", i+2, first, again)
				}
			}
			if got := fastAnswers(t, h) - before; !fullOnly && got != 3 {
				t.Errorf("%d of 3 signed service answers came from the cache", got)
			}
			r := new(dns.Msg)
			if err := r.Unpack(first); err != nil {
				t.Fatal(err)
			}
			if got := verifySections(t, r, key); len(got[dns.TypeA]) != 1 || len(got[dns.TypeRRSIG]) != 1 {
				t.Errorf("answer %v", r.Answer)
			}
		})
		t.Run("NXNAME query is FORMERR", func(t *testing.T) {
			if r := exchange(t, h, doQuery("static.signed.test.", dns.TypeNXNAME, false), UDP); r.Rcode != dns.RcodeFormatError {
				t.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
			}
		})
		t.Run("truncated by whole RRsets with their signatures", func(t *testing.T) {
			m := doQuery("big.signed.test.", dns.TypeTXT, false)
			m.IsEdns0().SetUDPSize(512)
			r := exchangeFrom(t, h, m, netip.MustParseAddr("192.0.2.1"), UDP)
			if !r.Truncated {
				t.Fatalf("a 400-byte TXT RRset and its signature fit in 512 bytes? %v", r)
			}
			var txt, sigs int
			for _, rr := range r.Answer {
				switch rr.Header().Rrtype {
				case dns.TypeTXT:
					txt++
				case dns.TypeRRSIG:
					sigs++
				}
			}
			if (txt == 0) != (sigs == 0) {
				t.Errorf("truncation split an RRset from its signature: %d TXT, %d RRSIG", txt, sigs)
			}
			if r := exchangeFrom(t, h, doQuery("big.signed.test.", dns.TypeTXT, false), netip.MustParseAddr("192.0.2.1"), TCP); r.Truncated {
				t.Errorf("TCP reply truncated")
			} else {
				verifySections(t, r, key)
			}
		})
	}
}

// exchangeFrom packs m and serves it from client.
func exchangeFrom(t *testing.T, h *Handler, m *dns.Msg, client netip.Addr, tr Transport) *dns.Msg {
	t.Helper()
	q, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return exchangeBytesFrom(t, h, q, client, tr)
}

// BenchmarkServeSigned answers a signed zone's static name and service with
// and without the DO bit, from the answer cache after the first ask: what a
// signed answer costs against an unsigned one.
func BenchmarkServeSigned(b *testing.B) {
	h, _ := newSignedHandler(b, Options{})
	for _, bc := range []struct {
		name string
		m    *dns.Msg
	}{
		{"static/unsigned", func() *dns.Msg { m := query("static.signed.test.", dns.TypeA); m.SetEdns0(1232, false); return m }()},
		{"static/DO", doQuery("static.signed.test.", dns.TypeA, false)},
		{"service/unsigned", func() *dns.Msg { m := query("www.signed.test.", dns.TypeA); m.SetEdns0(1232, false); return m }()},
		{"service/DO", doQuery("www.signed.test.", dns.TypeA, false)},
		{"nxdomain/DO", doQuery("nope.signed.test.", dns.TypeA, false)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q, err := bc.m.Pack()
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 4096)
			h.Serve(q, testClient, UDP, buf)
			b.ReportAllocs()
			for b.Loop() {
				h.Serve(q, testClient, UDP, buf)
			}
		})
	}
}
