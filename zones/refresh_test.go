package zones

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-dns/meridian/dnssec"
)

// TestRefreshResigns: a signed zone says when it must be built again (its
// window's end, or the next key event, whichever comes first), and Refresh
// builds it again although no file changed.
func TestRefreshResigns(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k, err := dnssec.Generate("signed.test.", dnssec.DefaultAlgorithm, 257, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	k.Inactive = now.Add(48 * time.Hour)
	k.Delete = now.Add(72 * time.Hour)
	if err := k.WriteFiles(keys); err != nil {
		t.Fatal(err)
	}
	zone := "zone: signed.test.\nsoa: {mname: ns1.signed.test., rname: h.signed.test.}\nns: [ns1.signed.test.]\ndnssec: {enabled: true, keys: keys}\nrecords: |\n  ns1 IN A 192.0.2.53\n"
	if err := os.WriteFile(filepath.Join(dir, "signed.test.yaml"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := s.Current()
	next := old.NextRefresh()
	end := old.Zone("signed.test.").DNSSEC.Signed.Window().End()
	if next.IsZero() || !next.After(now) || next.After(end) {
		t.Errorf("NextRefresh %v, want after now and at most the window's end %v", next, end)
	}
	if want := k.Inactive.Truncate(time.Second); end.After(want) && !next.Equal(want) {
		t.Errorf("NextRefresh %v, want the key's Inactive time %v, before the window ends", next, want)
	}
	if changed, err := s.Reload(); err != nil || changed {
		t.Fatalf("Reload of unchanged files: changed %v, %v", changed, err)
	}
	if err := s.Refresh(); err != nil {
		t.Fatal(err)
	}
	if s.Current() == old {
		t.Error("Refresh kept the old snapshot")
	}
	unsigned := "zone: plain.test.\nsoa: {mname: ns1.plain.test., rname: h.plain.test.}\nns: [ns1.plain.test.]\n"
	if err := os.WriteFile(filepath.Join(dir, "signed.test.yaml"), []byte(unsigned), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := s.Current().NextRefresh(); !got.IsZero() {
		t.Errorf("NextRefresh with no signed zone = %v, want zero", got)
	}
}

// TestReloadReusesSignatures: a reload that changes one record of a signed
// zone signs that RRset (and the SOA, whose derived serial moves) again and
// takes every other signature from the snapshot served before; a zone
// whose serial is derived is signed with its final serial.
func TestReloadReusesSignatures(t *testing.T) {
	dir := t.TempDir()
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
	var records strings.Builder
	for i := range 200 {
		fmt.Fprintf(&records, "  h%d IN A 192.0.2.%d\n", i, i%250)
	}
	write := func(extra string) {
		zone := "zone: signed.test.\nsoa: {mname: ns1.signed.test., rname: h.signed.test.}\nns: [ns1.signed.test.]\ndnssec: {enabled: true, keys: keys}\nrecords: |\n" + records.String() + extra
		if err := os.WriteFile(filepath.Join(dir, "signed.test.yaml"), []byte(zone), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	s, err := NewStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := s.Current().Zone("signed.test.").DNSSEC.Signed
	write("  added IN TXT \"one more\"\n")
	if changed, err := s.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed %v, %v", changed, err)
	}
	z := s.Current().Zone("signed.test.")
	second := z.DNSSEC.Signed
	if second.Reused() < first.Len()-3 || second.Signed() > 3 {
		t.Errorf("reload signed %d and reused %d of %d RRsets: want all but the changed ones reused", second.Signed(), second.Reused(), second.Len())
	}
	// The SOA is signed with the serial it is served with.
	soa := z.NegativeSOA().(*dns.SOA)
	sigs := second.RRSIGs("signed.test.", dns.TypeSOA)
	if len(sigs) != 1 {
		t.Fatalf("SOA RRSIGs %v", sigs)
	}
	served := dns.Copy(soa).(*dns.SOA)
	served.Hdr.Ttl = sigs[0].OrigTtl
	if err := sigs[0].Verify(k.DNSKEY, []dns.RR{served}); err != nil {
		t.Errorf("the SOA's signature does not cover the SOA served (serial %d): %v", soa.Serial, err)
	}
}
