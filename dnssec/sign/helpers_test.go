package sign

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// countingSigner counts the signatures its key makes, and fails them while
// fail is set.
type countingSigner struct {
	crypto.Signer
	n    atomic.Int64
	fail atomic.Bool
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if c.fail.Load() {
		return nil, errors.New("signer unavailable")
	}
	c.n.Add(1)
	return c.Signer.Sign(r, digest, opts)
}

// newKey makes a key of zone with the given algorithm and flags (257 for a
// KSK or CSK, 256 for a ZSK) whose signatures are counted.
func newKey(t testing.TB, zone string, alg uint8, flags uint16) (Key, *countingSigner) {
	t.Helper()
	d := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: alg,
	}
	priv, err := d.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingSigner{Signer: priv.(crypto.Signer)}
	return Key{DNSKEY: d, Signer: c}, c
}

// newCSK returns the Keys of zone with one CSK of alg.
func newCSK(t testing.TB, zone string, alg uint8) (*Keys, *dns.DNSKEY, *countingSigner) {
	t.Helper()
	k, c := newKey(t, zone, alg, 257)
	ks, err := NewKeys(zone, []Key{k}, []Key{k})
	if err != nil {
		t.Fatal(err)
	}
	return ks, k.DNSKEY, c
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return rr
}

func rrs(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, len(lines))
	for i, l := range lines {
		out[i] = mustRR(t, l)
	}
	return out
}

// verify checks each signature against the DNSKEY with its tag, as a
// validator would: the cryptography, the window at now, and the fields that
// depend on rrset.
func verify(t testing.TB, sigs []*dns.RRSIG, rrset []dns.RR, keys ...*dns.DNSKEY) {
	t.Helper()
	if len(sigs) == 0 {
		t.Fatal("no signatures")
	}
	for _, sig := range sigs {
		var key *dns.DNSKEY
		for _, k := range keys {
			if k.KeyTag() == sig.KeyTag && k.Algorithm == sig.Algorithm {
				key = k
			}
		}
		if key == nil {
			t.Fatalf("signature by key %d, which is not given", sig.KeyTag)
		}
		if err := sig.Verify(key, rrset); err != nil {
			t.Fatalf("%v does not verify for %v: %v", sig, rrset, err)
		}
		if !sig.ValidityPeriod(now) {
			t.Errorf("%v is not valid at %v", sig, now)
		}
		h := rrset[0].Header()
		if sig.TypeCovered != h.Rrtype || sig.Hdr.Rrtype != dns.TypeRRSIG || sig.Hdr.Class != h.Class || !dns.IsSubDomain(sig.SignerName, h.Name) || sig.Hdr.Ttl != sig.OrigTtl {
			t.Errorf("%v: fields do not match %v", sig, rrset[0])
		}
	}
}

func keyTags(sigs []*dns.RRSIG) string {
	s := ""
	for _, sig := range sigs {
		s += fmt.Sprint(sig.KeyTag, " ")
	}
	return s
}
