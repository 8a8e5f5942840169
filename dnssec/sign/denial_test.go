package sign

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestDenialRecords(t *testing.T) {
	types := []uint16{dns.TypeAAAA, dns.TypeA, dns.TypeA}
	for _, tc := range []struct {
		name string
		got  *dns.NSEC
		want string
	}{
		{"nonexistent name", NXName("Nope.Example.com.", 300),
			`nope.example.com.	300	IN	NSEC	\000.nope.example.com. RRSIG NSEC NXNAME`},
		{"NODATA at a service", NoData("api.example.com.", types, 300),
			`api.example.com.	300	IN	NSEC	\000.api.example.com. A AAAA RRSIG NSEC`},
		{"NODATA at the apex", NoData("example.com.", []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeMX, dns.TypeNSEC}, 300),
			`example.com.	300	IN	NSEC	\000.example.com. NS SOA MX RRSIG NSEC DNSKEY`},
		{"empty non-terminal", EmptyNonTerminal("b.example.com.", 60),
			`b.example.com.	60	IN	NSEC	\000.b.example.com. RRSIG NSEC`},
		{"insecure delegation", InsecureDelegation("child.example.com.", 300),
			`child.example.com.	300	IN	NSEC	\000.child.example.com. NS RRSIG NSEC`},
	} {
		if got := tc.got.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		// The record survives the wire, as a resolver receives it.
		buf := make([]byte, dns.Len(tc.got))
		off, err := dns.PackRR(tc.got, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%s: pack: %v", tc.name, err)
		}
		back, _, err := dns.UnpackRR(buf[:off], 0)
		if err != nil || back.String() != tc.want {
			t.Errorf("%s: unpacked %v, %v", tc.name, back, err)
		}
	}
	if !slices.Equal(types, []uint16{dns.TypeAAAA, dns.TypeA, dns.TypeA}) {
		t.Errorf("NoData changed its argument: %v", types)
	}
	if TypeNXNAME != 128 {
		t.Errorf("TypeNXNAME = %d, want 128 (RFC 9824)", TypeNXNAME)
	}
}

func TestDenialSigned(t *testing.T) {
	for _, alg := range algorithms {
		ks, dnskey, _ := newCSK(t, "example.com.", alg)
		s := New(Bounds{})
		for _, n := range []*dns.NSEC{
			NXName("nope.example.com.", 300),
			NoData("api.example.com.", []uint16{dns.TypeA, dns.TypeAAAA}, 300),
			EmptyNonTerminal("b.example.com.", 300),
			InsecureDelegation("child.example.com.", 300),
		} {
			rrset := []dns.RR{n}
			sigs, err := s.Sign(ks, rrset, WindowAt(now))
			if err != nil {
				t.Fatal(err)
			}
			verify(t, sigs, rrset, dnskey)
			if sigs[0].TypeCovered != dns.TypeNSEC || sigs[0].Labels != uint8(dns.CountLabel(n.Hdr.Name)) || sigs[0].OrigTtl != 300 {
				t.Errorf("%v: RRSIG %v", n, sigs[0])
			}
		}
	}
}

func TestNSECTTL(t *testing.T) {
	for _, tc := range []struct{ ttl, minimum, want uint32 }{
		{3600, 300, 300},
		{60, 300, 60},
		{300, 300, 300},
	} {
		soa := &dns.SOA{Hdr: dns.RR_Header{Ttl: tc.ttl}, Minttl: tc.minimum}
		if got := NSECTTL(soa); got != tc.want {
			t.Errorf("NSECTTL(TTL %d, MINIMUM %d) = %d, want %d", tc.ttl, tc.minimum, got, tc.want)
		}
	}
}

func TestSignUncached(t *testing.T) {
	ks, dnskey, signer := newCSK(t, "example.com.", dns.ED25519)
	s := New(Bounds{})
	rrset := []dns.RR{NXName("nope.example.com.", 300)}
	for range 2 {
		sigs, err := s.SignUncached(ks, rrset, WindowAt(now))
		if err != nil {
			t.Fatal(err)
		}
		verify(t, sigs, rrset, dnskey)
	}
	if st := s.Stats(); signer.n.Load() != 2 || st.Signatures != 2 || st.Entries != 0 || st.Hits+st.Misses != 0 {
		t.Errorf("stats %+v, signer made %d: want two signatures and nothing cached", st, signer.n.Load())
	}
}

// TestPredecessor: the predecessor sorts just before the name in canonical
// order, and the covering NSEC covers the name and nothing before the
// predecessor.
func TestPredecessor(t *testing.T) {
	for name, want := range map[string]string{
		"x.y.example.":   "w" + strings.Repeat(`\255`, 62) + ".y.example.",
		`\000.example.`:  "example.",
		`a\000.example.`: "a.example.",
		"B.Example.":     "a" + strings.Repeat(`\255`, 62) + ".example.",
		"0.example.":     "/" + strings.Repeat(`\255`, 62) + ".example.",
	} {
		got := Predecessor(name)
		if got != want {
			t.Errorf("Predecessor(%q) = %q, want %q", name, got, want)
		}
		if !canonicalLess(got, dns.CanonicalName(name)) {
			t.Errorf("Predecessor(%q) = %q does not sort before it", name, got)
		}
		if _, ok := dns.IsDomainName(got); !ok {
			t.Errorf("Predecessor(%q) = %q is not a domain name", name, got)
		}
	}
	n := Covering("x.y.example.", 300)
	for _, inside := range []string{"x.y.example.", "a.x.y.example.", `\000.x.y.example.`} {
		if !canonicalLess(n.Hdr.Name, inside) || !canonicalLess(inside, n.NextDomain) {
			t.Errorf("NSEC %v does not cover %s", n, inside)
		}
	}
	if dns.IsSubDomain("x.y.example.", n.NextDomain) {
		t.Errorf("next name %s is below the name: it would make it an empty non-terminal", n.NextDomain)
	}
	// Names that may exist beside it stay outside: the wildcard, and
	// siblings before and after.
	for _, outside := range []string{"*.y.example.", "w.y.example.", "xa.y.example.", "y.example."} {
		if canonicalLess(n.Hdr.Name, outside) && canonicalLess(outside, n.NextDomain) {
			t.Errorf("NSEC %v covers %s, which may exist", n, outside)
		}
	}
}

// canonicalLess reports whether a sorts before b in canonical DNS name
// order (RFC 4034 6.1): label by label from the right, octet by octet,
// letters lower-cased.
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(dns.CanonicalName(a)), dns.SplitDomainName(dns.CanonicalName(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		x, y := string(unescape(la[i])), string(unescape(lb[j]))
		if x != y {
			return x < y
		}
	}
	return len(la) < len(lb)
}

func TestNextCloser(t *testing.T) {
	for _, c := range []struct{ qname, wildcard, want string }{
		{"x.y.wild.example.", "*.wild.example.", "y.wild.example."},
		{"Q.wild.example.", "*.wild.example.", "q.wild.example."},
		{"a.b.c.example.", "*.example.", "c.example."},
	} {
		if got := NextCloser(c.qname, c.wildcard); got != c.want {
			t.Errorf("NextCloser(%s, %s) = %s, want %s", c.qname, c.wildcard, got, c.want)
		}
	}
}
