package sign

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// zoneRRsets returns n RRsets of example.com: an apex DNSKEY RRset and A
// RRsets of two records.
func zoneRRsets(t testing.TB, dnskeys []dns.RR, n int) [][]dns.RR {
	t.Helper()
	out := [][]dns.RR{dnskeys}
	for i := range n - 1 {
		name := fmt.Sprintf("h%d.example.com.", i)
		out = append(out, []dns.RR{
			&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{192, 0, 2, byte(i)}},
			&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: []byte{198, 51, 100, byte(i >> 8)}},
		})
	}
	return out
}

func verifySet(t testing.TB, set *SignedSet, rrsets [][]dns.RR, keys ...*dns.DNSKEY) {
	t.Helper()
	if set.Len() != len(rrsets) {
		t.Fatalf("the set holds %d RRsets, want %d", set.Len(), len(rrsets))
	}
	for _, rrset := range rrsets {
		h := rrset[0].Header()
		sigs := set.RRSIGs(strings.ToUpper(h.Name), h.Rrtype)
		verify(t, sigs, rrset, keys...)
	}
}

func TestSignAllReuse(t *testing.T) {
	ks, dnskey, signer := newCSK(t, "example.com.", dns.ECDSAP256SHA256)
	s := New(Bounds{})
	w := WindowAt(now)
	rrsets := zoneRRsets(t, []dns.RR{dnskey}, 1000)

	first, err := s.SignAll(nil, ks, rrsets, w)
	if err != nil {
		t.Fatal(err)
	}
	verifySet(t, first, rrsets, dnskey)
	if signer.n.Load() != 1000 || first.Signed() != 1000 || first.Reused() != 0 {
		t.Fatalf("first signing: %d signatures (set says %d signed, %d reused), want 1000", signer.n.Load(), first.Signed(), first.Reused())
	}

	// A reload that changes one record and reorders another RRset.
	changed := make([][]dns.RR, len(rrsets))
	copy(changed, rrsets)
	changed[500] = []dns.RR{changed[500][0], dns.Copy(changed[500][1])}
	changed[500][1].(*dns.A).A = []byte{203, 0, 113, 1}
	changed[7] = []dns.RR{changed[7][1], changed[7][0]}
	second, err := s.SignAll(first, ks, changed, w)
	if err != nil {
		t.Fatal(err)
	}
	if n := signer.n.Load() - 1000; n != 1 || second.Signed() != 1 || second.Reused() != 999 {
		t.Fatalf("re-signing after one change: %d signatures (set says %d signed, %d reused), want 1", n, second.Signed(), second.Reused())
	}
	verifySet(t, second, changed, dnskey)
	if a, b := first.RRSIGs("h3.example.com.", dns.TypeA), second.RRSIGs("h3.example.com.", dns.TypeA); a[0] != b[0] {
		t.Error("an unchanged RRset got a new signature")
	}
	if err := second.RRSIGs("h499.example.com.", dns.TypeA)[0].Verify(dnskey, rrsets[500]); err == nil {
		t.Error("the changed RRset's signature verifies for its old content")
	}

	// The week turns: everything is signed again.
	third, err := s.SignAll(second, ks, changed, w.Next())
	if err != nil {
		t.Fatal(err)
	}
	if third.Signed() != 1000 || third.Reused() != 0 || !third.Window().equal(w.Next()) {
		t.Errorf("the next window: %d signed, %d reused, window %v; want all 1000 signed", third.Signed(), third.Reused(), third.Window())
	}
	if st := s.Stats(); st.Signatures != 2001 || st.Entries != 0 {
		t.Errorf("stats %+v, want 2001 signatures and nothing in the cache", st)
	}
}

func TestSignAllRollover(t *testing.T) {
	csk, _ := newKey(t, "example.com.", dns.ED25519, 257)
	zsk, zskSigner := newKey(t, "example.com.", dns.ED25519, 256)
	before, err := NewKeys("example.com.", []Key{csk}, []Key{csk})
	if err != nil {
		t.Fatal(err)
	}
	during, err := NewKeys("example.com.", []Key{csk}, []Key{csk, zsk})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Bounds{})
	w := WindowAt(now)
	rrsets := zoneRRsets(t, []dns.RR{csk.DNSKEY, zsk.DNSKEY}, 100)
	first, err := s.SignAll(nil, before, rrsets, w)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.SignAll(first, during, rrsets, w)
	if err != nil {
		t.Fatal(err)
	}
	verifySet(t, second, rrsets, csk.DNSKEY, zsk.DNSKEY)
	if second.Signed() != 99 || second.Reused() != 100 || zskSigner.n.Load() != 99 {
		t.Errorf("adding a ZSK: %d signed, %d reused, the ZSK made %d; want the 99 non-DNSKEY RRsets signed by the ZSK only", second.Signed(), second.Reused(), zskSigner.n.Load())
	}
	if got := keyTags(second.RRSIGs("example.com.", dns.TypeDNSKEY)); got != fmt.Sprint(csk.DNSKEY.KeyTag(), " ") {
		t.Errorf("DNSKEY signed by %s, want the CSK only", got)
	}

}

func TestSignAllKeyTagCollision(t *testing.T) {
	// Two keys with one tag (RFC 4034 B.1 allows it): about 300 Ed25519
	// keys hold a pair, by the birthday bound on 16-bit tags.
	byTag := make(map[uint16]Key)
	var a, b Key
	for a.DNSKEY == nil {
		k, _ := newKey(t, "example.com.", dns.ED25519, 257)
		if old, ok := byTag[k.DNSKEY.KeyTag()]; ok {
			a, b = old, k
		}
		byTag[k.DNSKEY.KeyTag()] = k
	}
	s := New(Bounds{})
	w := WindowAt(now)
	rrsets := zoneRRsets(t, []dns.RR{a.DNSKEY, b.DNSKEY}, 10)
	first, err := s.SignAll(nil, mustKeys(t, a), rrsets, w)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.SignAll(first, mustKeys(t, b), rrsets, w)
	if err != nil {
		t.Fatal(err)
	}
	if second.Signed() != 10 || second.Reused() != 0 {
		t.Errorf("another key with the same tag: %d signed, %d reused; want all signed", second.Signed(), second.Reused())
	}
	verifySet(t, second, rrsets, b.DNSKEY)

	// The cache tells them apart too.
	for _, k := range []Key{a, b} {
		sigs, err := s.Sign(mustKeys(t, k), rrsets[1], w)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, sigs, rrsets[1], k.DNSKEY)
	}
	if st := s.Stats(); st.Misses != 2 {
		t.Errorf("two keys with one tag: %d cache misses, want 2", st.Misses)
	}
}

func mustKeys(t testing.TB, k Key) *Keys {
	t.Helper()
	ks, err := NewKeys(k.DNSKEY.Hdr.Name, []Key{k}, []Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestSignAllRejects(t *testing.T) {
	ks, _, _ := newCSK(t, "example.com.", dns.ED25519)
	s := New(Bounds{})
	for name, rrsets := range map[string][][]dns.RR{
		"an RRset twice":  {rrs(t, "a.example.com. 300 IN A 192.0.2.1"), rrs(t, "A.example.com. 300 IN A 192.0.2.2")},
		"not one RRset":   {rrs(t, "a.example.com. 300 IN A 192.0.2.1", "b.example.com. 300 IN A 192.0.2.2")},
		"an empty RRset":  {nil},
		"two TTLs in one": {rrs(t, "a.example.com. 300 IN A 192.0.2.1", "a.example.com. 30 IN A 192.0.2.2")},
	} {
		if set, err := s.SignAll(nil, ks, rrsets, WindowAt(now)); err == nil {
			t.Errorf("%s: SignAll = %v, want an error", name, set)
		}
	}
}
