package sign

import (
	"slices"
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
