package sign

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var algorithms = []uint8{dns.ECDSAP256SHA256, dns.ED25519}

func TestSignVerifies(t *testing.T) {
	w := WindowAt(now)
	inc, exp := w.rrsigTimes()
	for _, alg := range algorithms {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			ks, dnskey, _ := newCSK(t, "example.com.", alg)
			s := New(Bounds{})
			for _, tc := range []struct {
				name     string
				rrset    []dns.RR
				labels   uint8
				origTTL  uint32
				typeCov  uint16
				ownerCov string
			}{
				{"A RRset", rrs(t, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"), 3, 300, dns.TypeA, "www.example.com."},
				{"service A with a degraded TTL", rrs(t, "api.example.com. 20 IN A 198.51.100.7"), 3, 20, dns.TypeA, "api.example.com."},
				{"AAAA", rrs(t, "api.example.com. 60 IN AAAA 2001:db8::7"), 3, 60, dns.TypeAAAA, "api.example.com."},
				{"MX with upper-case names", rrs(t, "Example.COM. 3600 IN MX 10 Mail.Example.com.", "Example.COM. 3600 IN MX 20 mx2.example.net."), 2, 3600, dns.TypeMX, "example.com."},
				{"TXT", rrs(t, `example.com. 3600 IN TXT "v=spf1 -all"`), 2, 3600, dns.TypeTXT, "example.com."},
				{"SOA", rrs(t, "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 2026120601 7200 3600 1209600 300"), 2, 3600, dns.TypeSOA, "example.com."},
				{"CNAME", rrs(t, "alias.example.com. 300 IN CNAME api.example.com."), 3, 300, dns.TypeCNAME, "alias.example.com."},
				{"wildcard owner", rrs(t, "*.w.example.com. 300 IN A 192.0.2.9"), 3, 300, dns.TypeA, "*.w.example.com."},
			} {
				t.Run(tc.name, func(t *testing.T) {
					sigs, err := s.Sign(ks, tc.rrset, w)
					if err != nil {
						t.Fatal(err)
					}
					verify(t, sigs, tc.rrset, dnskey)
					sig := sigs[0]
					if len(sigs) != 1 || sig.Labels != tc.labels || sig.OrigTtl != tc.origTTL || sig.TypeCovered != tc.typeCov ||
						sig.Hdr.Name != tc.ownerCov || sig.Algorithm != alg || sig.KeyTag != dnskey.KeyTag() ||
						sig.SignerName != "example.com." || sig.Inception != inc || sig.Expiration != exp {
						t.Errorf("got %v, want one RRSIG with labels %d, original TTL %d, key %d, window %v", sigs, tc.labels, tc.origTTL, dnskey.KeyTag(), w)
					}

					// A changed record does not verify with the signature.
					tampered := make([]dns.RR, len(tc.rrset))
					for i, rr := range tc.rrset {
						tampered[i] = dns.Copy(rr)
					}
					tampered[0].Header().Name = "other.example.com."
					for _, rr := range tampered[1:] {
						rr.Header().Name = "other.example.com."
					}
					if sig.Verify(dnskey, tampered) == nil {
						t.Error("the signature verifies for another owner")
					}
				})
			}
		})
	}
}

func TestSignWildcardExpansion(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			ks, dnskey, signer := newCSK(t, "example.com.", alg)
			s := New(Bounds{})
			wildcard := rrs(t, "*.w.example.com. 300 IN A 192.0.2.9", "*.w.example.com. 300 IN A 192.0.2.10")
			sigs, err := s.Sign(ks, wildcard, WindowAt(now))
			if err != nil {
				t.Fatal(err)
			}
			for _, qname := range []string{"a.w.example.com.", "deep.er.w.example.com."} {
				expanded := rrs(t, qname+" 300 IN A 192.0.2.10", qname+" 300 IN A 192.0.2.9")
				got := Synthesize(sigs, qname)
				if got[0].Hdr.Name != qname || got[0].Labels != 3 {
					t.Errorf("Synthesize(%s) = %v, want owner %s and labels 3 (example.com with w, without the *)", qname, got[0], qname)
				}
				verify(t, got, expanded, dnskey)
			}
			if sigs[0].Hdr.Name != "*.w.example.com." {
				t.Errorf("Synthesize changed the shared signature: %v", sigs[0])
			}
			if n := signer.n.Load(); n != 1 {
				t.Errorf("%d signatures for one wildcard and two names, want 1", n)
			}
		})
	}
}

func TestSignKeySplit(t *testing.T) {
	ksk, _ := newKey(t, "example.com.", dns.ECDSAP256SHA256, 257)
	zskOld, _ := newKey(t, "example.com.", dns.ECDSAP256SHA256, 256)
	zskNew, _ := newKey(t, "example.com.", dns.ED25519, 256)
	ks, err := NewKeys("Example.com.", []Key{ksk}, []Key{zskOld, zskNew})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Bounds{})
	w := WindowAt(now)
	dnskeys := []dns.RR{ksk.DNSKEY, zskOld.DNSKEY, zskNew.DNSKEY}
	all := []*dns.DNSKEY{ksk.DNSKEY, zskOld.DNSKEY, zskNew.DNSKEY}
	for _, tc := range []struct {
		rrset []dns.RR
		by    []*dns.DNSKEY
	}{
		{dnskeys, []*dns.DNSKEY{ksk.DNSKEY}},
		{rrs(t, "example.com. 3600 IN CDS 12345 13 2 "+strings.Repeat("ab", 32)), []*dns.DNSKEY{ksk.DNSKEY}},
		{rrs(t, "example.com. 3600 IN CDNSKEY "+strings.TrimPrefix(ksk.DNSKEY.String(), ksk.DNSKEY.Hdr.String())), []*dns.DNSKEY{ksk.DNSKEY}},
		{rrs(t, "example.com. 3600 IN NS ns1.example.com."), []*dns.DNSKEY{zskOld.DNSKEY, zskNew.DNSKEY}},
		{rrs(t, "www.example.com. 300 IN A 192.0.2.1"), []*dns.DNSKEY{zskOld.DNSKEY, zskNew.DNSKEY}},
	} {
		sigs, err := s.Sign(ks, tc.rrset, w)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, sigs, tc.rrset, all...)
		want := ""
		for _, k := range tc.by {
			want += fmt.Sprint(k.KeyTag(), " ")
		}
		if got := keyTags(sigs); got != want {
			t.Errorf("%s signed by keys %s, want %s", dns.Type(tc.rrset[0].Header().Rrtype), got, want)
		}
	}
}

func TestSignCache(t *testing.T) {
	ks, dnskey, signer := newCSK(t, "example.com.", dns.ECDSAP256SHA256)
	s := New(Bounds{})
	w := WindowAt(now)
	sign := func(rrset []dns.RR, w Window) []*dns.RRSIG {
		t.Helper()
		sigs, err := s.Sign(ks, rrset, w)
		if err != nil {
			t.Fatal(err)
		}
		verify(t, sigs, rrset, dnskey)
		return sigs
	}
	expectSignatures := func(step string, want int64) {
		t.Helper()
		if got := signer.n.Load(); got != want {
			t.Fatalf("after %s: %d signatures, want %d", step, got, want)
		}
	}

	first := sign(rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w)
	expectSignatures("the first signing", 1)
	again := sign(rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w)
	expectSignatures("the same content", 1)
	if again[0] != first[0] {
		t.Error("the same content gave another signature")
	}
	sign(rrs(t, "api.example.com. 300 IN A 192.0.2.2", "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w)
	expectSignatures("the records reordered and duplicated", 1)
	sign(rrs(t, "API.Example.com. 300 IN A 192.0.2.2", "API.Example.com. 300 IN A 192.0.2.1"), w)
	expectSignatures("the owner in another case", 1)

	sign(rrs(t, "api.example.com. 30 IN A 192.0.2.1", "api.example.com. 30 IN A 192.0.2.2"), w)
	expectSignatures("a degraded TTL", 2)
	sign(rrs(t, "api.example.com. 300 IN A 192.0.2.1"), w)
	expectSignatures("one record fewer", 3)
	sign(rrs(t, "api.example.com. 300 IN AAAA 2001:db8::1"), w)
	expectSignatures("another type", 4)
	sign(rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w.Next())
	expectSignatures("the next window", 5)
	sign(rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w)
	expectSignatures("the first content again", 5)

	other, otherKey, otherSigner := newCSK(t, "example.com.", dns.ECDSAP256SHA256)
	sigs, err := s.Sign(other, rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), w)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sigs, rrs(t, "api.example.com. 300 IN A 192.0.2.1", "api.example.com. 300 IN A 192.0.2.2"), otherKey)
	if otherSigner.n.Load() != 1 {
		t.Error("another key reused a signature")
	}

	st := s.Stats()
	if st.Signatures != 6 || st.Misses != 6 || st.Hits != 4 || st.Entries != 6 || st.Bytes <= 0 {
		t.Errorf("stats %+v, want 6 signatures, 6 misses, 4 hits, 6 entries", st)
	}
}

func TestSignCacheBounds(t *testing.T) {
	ks, _, signer := newCSK(t, "example.com.", dns.ED25519)
	w := WindowAt(now)
	entrySize := int64(entryOverhead + len("example.com.") + signatureChars)
	for _, b := range []Bounds{{MaxEntries: 50}, {MaxBytes: 10 * entrySize}, {MaxEntries: 2000}} {
		t.Run(fmt.Sprintf("%+v", b), func(t *testing.T) {
			s := New(b)
			limit := b.MaxEntries
			if b.MaxBytes > 0 {
				limit = int(b.MaxBytes / entrySize)
			}
			for i := range 3 * limit {
				if _, err := s.Sign(ks, rrs(t, fmt.Sprintf("h%d.example.com. 300 IN A 192.0.2.1", i)), w); err != nil {
					t.Fatal(err)
				}
				st := s.Stats()
				if st.Entries > limit || (b.MaxBytes > 0 && st.Bytes > b.MaxBytes) {
					t.Fatalf("after %d RRsets: %d entries, %d bytes; bounds %+v", i+1, st.Entries, st.Bytes, b)
				}
			}
			st := s.Stats()
			if st.Entries+int(st.Evictions) != 3*limit || st.Entries < limit*9/10 {
				t.Errorf("stats %+v after %d RRsets with room for %d", st, 3*limit, limit)
			}
		})
	}

	// An entry asked for again survives the entries that are not.
	s := New(Bounds{MaxEntries: 20})
	hot := rrs(t, "hot.example.com. 300 IN A 192.0.2.1")
	before := signer.n.Load()
	for i := range 200 {
		for _, rrset := range [][]dns.RR{hot, rrs(t, fmt.Sprintf("cold%d.example.com. 300 IN A 192.0.2.1", i))} {
			if _, err := s.Sign(ks, rrset, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := signer.n.Load() - before; got != 201 {
		t.Errorf("%d signatures for one hot and 200 cold RRsets, want 201: the hot one was evicted", got)
	}
}

func TestSignConcurrent(t *testing.T) {
	ks, dnskey, signer := newCSK(t, "example.com.", dns.ECDSAP256SHA256)
	s := New(Bounds{MaxEntries: 40})
	w := WindowAt(now)
	const shared = 10
	var wg sync.WaitGroup
	results := make([][]*dns.RRSIG, 32*shared)
	for g := range 32 {
		wg.Go(func() {
			for i := range shared {
				rrset := rrs(t, fmt.Sprintf("svc%d.example.com. 60 IN A 192.0.2.%d", i, i))
				sigs, err := s.Sign(ks, rrset, w)
				if err != nil {
					t.Error(err)
					return
				}
				results[g*shared+i] = sigs
				// Churn that evicts, under the same locks.
				if _, err := s.Sign(ks, rrs(t, fmt.Sprintf("g%d-%d.example.com. 60 IN A 192.0.2.1", g, i)), w); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i, sigs := range results {
		verify(t, sigs, rrs(t, fmt.Sprintf("svc%d.example.com. 60 IN A 192.0.2.%d", i%shared, i%shared)), dnskey)
	}
	st := s.Stats()
	if st.Entries > 40 || int64(st.Signatures) != signer.n.Load() || st.Hits+st.Misses != 2*32*shared {
		t.Errorf("stats %+v, signer made %d", st, signer.n.Load())
	}
}

func TestSignConcurrentMissSignsOnce(t *testing.T) {
	ks, _, signer := newCSK(t, "example.com.", dns.ECDSAP256SHA256)
	s := New(Bounds{})
	w := WindowAt(now)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Go(func() {
			<-start
			for i := range 10 {
				if _, err := s.Sign(ks, rrs(t, fmt.Sprintf("svc%d.example.com. 60 IN A 192.0.2.1", i)), w); err != nil {
					t.Error(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if n := signer.n.Load(); n != 10 {
		t.Errorf("64 goroutines asking for 10 RRsets made %d signatures, want 10", n)
	}
}

func TestSignErrorNotCached(t *testing.T) {
	ks, dnskey, signer := newCSK(t, "example.com.", dns.ED25519)
	s := New(Bounds{})
	rrset := rrs(t, "www.example.com. 300 IN A 192.0.2.1")
	signer.fail.Store(true)
	if _, err := s.Sign(ks, rrset, WindowAt(now)); err == nil || !strings.Contains(err.Error(), "www.example.com. A") {
		t.Fatalf("Sign with a failing key: error %v, want one naming the RRset", err)
	}
	signer.fail.Store(false)
	sigs, err := s.Sign(ks, rrset, WindowAt(now))
	if err != nil {
		t.Fatal(err)
	}
	verify(t, sigs, rrset, dnskey)
	if st := s.Stats(); st.Entries != 1 || st.Signatures != 1 || !st.EarliestExpiration.Equal(WindowAt(now).Expiration) {
		t.Errorf("stats %+v, want the one good signature", st)
	}
}

func TestSignRejects(t *testing.T) {
	ks, _, signer := newCSK(t, "example.com.", dns.ED25519)
	s := New(Bounds{})
	for name, rrset := range map[string][]dns.RR{
		"empty":         nil,
		"two types":     rrs(t, "a.example.com. 300 IN A 192.0.2.1", "a.example.com. 300 IN AAAA 2001:db8::1"),
		"two owners":    rrs(t, "a.example.com. 300 IN A 192.0.2.1", "b.example.com. 300 IN A 192.0.2.2"),
		"two TTLs":      rrs(t, "a.example.com. 300 IN A 192.0.2.1", "a.example.com. 30 IN A 192.0.2.2"),
		"an RRSIG":      {&dns.RRSIG{Hdr: dns.RR_Header{Name: "a.example.com.", Rrtype: dns.TypeRRSIG, Class: dns.ClassINET}}},
		"not wildcard":  rrs(t, "*a.example.com. 300 IN A 192.0.2.1"),
		"an A with v6":  {&dns.A{Hdr: dns.RR_Header{Name: "a.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}},
		"an empty AAAA": {&dns.AAAA{Hdr: dns.RR_Header{Name: "a.example.com.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET}}},
	} {
		if sigs, err := s.Sign(ks, rrset, WindowAt(now)); err == nil {
			t.Errorf("%s: Sign = %v, want an error", name, sigs)
		}
		if sigs, err := s.SignUncached(ks, rrset, WindowAt(now)); err == nil {
			t.Errorf("%s: SignUncached = %v, want an error", name, sigs)
		}
	}
	if signer.n.Load() != 0 {
		t.Errorf("%d signatures of rejected RRsets", signer.n.Load())
	}
}

func TestRetireAndExpiry(t *testing.T) {
	ks, _, _ := newCSK(t, "example.com.", dns.ED25519)
	s := New(Bounds{})
	if got := s.EarliestExpiration(); !got.IsZero() {
		t.Errorf("an empty cache reports expiration %v", got)
	}
	if _, ok := UntilExpiry(now, s.EarliestExpiration()); ok {
		t.Error("UntilExpiry of nothing is known")
	}
	w := WindowAt(now)
	for i, win := range []Window{w, w, w.Next()} {
		if _, err := s.Sign(ks, rrs(t, fmt.Sprintf("h%d.example.com. 300 IN A 192.0.2.1", i)), win); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.EarliestExpiration(); !got.Equal(w.Expiration) {
		t.Errorf("EarliestExpiration = %v, want the current window's %v", got, w.Expiration)
	}
	if d, ok := UntilExpiry(now, s.EarliestExpiration()); !ok || d != w.Expiration.Sub(now) {
		t.Errorf("UntilExpiry = %v, %v, want %v", d, ok, w.Expiration.Sub(now))
	}
	if d, ok := UntilExpiry(now, time.Time{}, s.EarliestExpiration(), now.Add(time.Hour)); !ok || d != time.Hour {
		t.Errorf("UntilExpiry with an earlier set = %v, %v, want 1h", d, ok)
	}

	s.Retire(w.Next())
	st := s.Stats()
	if st.Entries != 1 || st.Evictions != 2 || !st.EarliestExpiration.Equal(w.Next().Expiration) {
		t.Errorf("after Retire(next window): %+v, want the one entry of the next window", st)
	}
}

func TestNewKeysRejects(t *testing.T) {
	good, _ := newKey(t, "example.com.", dns.ECDSAP256SHA256, 257)
	other, _ := newKey(t, "example.com.", dns.ECDSAP256SHA256, 257)
	ed, _ := newKey(t, "example.com.", dns.ED25519, 257)
	otherZone, _ := newKey(t, "example.net.", dns.ECDSAP256SHA256, 257)
	with := func(k Key, change func(*dns.DNSKEY)) Key {
		d := *k.DNSKEY
		change(&d)
		return Key{DNSKEY: &d, Signer: k.Signer}
	}
	for name, tc := range map[string]struct {
		zone     string
		ksk, zsk []Key
	}{
		"no KSK":              {"example.com.", nil, []Key{good}},
		"no ZSK":              {"example.com.", []Key{good}, nil},
		"not fully qualified": {"example.com", []Key{good}, []Key{good}},
		"another zone's key":  {"example.com.", []Key{otherZone}, []Key{good}},
		"no DNSKEY":           {"example.com.", []Key{{Signer: good.Signer}}, []Key{good}},
		"no private key":      {"example.com.", []Key{{DNSKEY: good.DNSKEY}}, []Key{good}},
		"mismatched private":  {"example.com.", []Key{good}, []Key{{DNSKEY: good.DNSKEY, Signer: other.Signer}}},
		"ECDSA as Ed25519":    {"example.com.", []Key{good}, []Key{{DNSKEY: ed.DNSKEY, Signer: good.Signer}}},
		"not a zone key":      {"example.com.", []Key{with(good, func(d *dns.DNSKEY) { d.Flags = 1 })}, []Key{good}},
		"protocol 2":          {"example.com.", []Key{with(good, func(d *dns.DNSKEY) { d.Protocol = 2 })}, []Key{good}},
		"RSASHA256":           {"example.com.", []Key{with(good, func(d *dns.DNSKEY) { d.Algorithm = dns.RSASHA256 })}, []Key{good}},
		"class CH":            {"example.com.", []Key{with(good, func(d *dns.DNSKEY) { d.Hdr.Class = dns.ClassCHAOS })}, []Key{good}},
	} {
		if ks, err := NewKeys(tc.zone, tc.ksk, tc.zsk); err == nil {
			t.Errorf("%s: NewKeys = %v, want an error", name, ks)
		}
	}
	if _, err := NewKeys("EXAMPLE.com.", []Key{good}, []Key{ed, other}); err != nil {
		t.Errorf("NewKeys with good keys: %v", err)
	}
}
