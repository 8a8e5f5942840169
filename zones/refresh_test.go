package zones

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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
