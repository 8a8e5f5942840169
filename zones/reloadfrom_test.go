package zones

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestReloadFrom: a good directory is served and becomes the zones
// directory; a directory that does not build, or that Validate refuses,
// leaves the snapshot and the directory as they were.
func TestReloadFrom(t *testing.T) {
	write := func(dir, serial string) {
		t.Helper()
		body := "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: " + serial + "}\nns: [ns1.example.com.]\n"
		if err := os.WriteFile(filepath.Join(dir, "example.com.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	first, second, broken := t.TempDir(), t.TempDir(), t.TempDir()
	write(first, "1")
	write(second, "2")
	if err := os.WriteFile(filepath.Join(broken, "example.com.yaml"), []byte("zone: example.com.\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(first, nil)
	if err != nil {
		t.Fatal(err)
	}
	swapped := 0
	s.Swapped = func(*Snapshot) { swapped++ }
	if _, err := s.ReloadFrom(broken); err == nil {
		t.Fatal("a broken directory loaded")
	}
	if s.Dir() != first || s.Current().Zone("example.com.").Serial != 1 || swapped != 0 {
		t.Fatalf("after a failed ReloadFrom: dir %s, serial %d, %d swaps", s.Dir(), s.Current().Zone("example.com.").Serial, swapped)
	}
	s.Validate = func(*Snapshot) error { return errors.New("no") }
	if _, err := s.ReloadFrom(second); err == nil || s.Dir() != first {
		t.Fatalf("a refused snapshot: %v, dir %s", err, s.Dir())
	}
	s.Validate = nil
	changed, err := s.ReloadFrom(second)
	if err != nil || !changed || s.Dir() != second || s.Current().Zone("example.com.").Serial != 2 || swapped != 1 {
		t.Fatalf("ReloadFrom: %v %v, dir %s, serial %d, %d swaps", changed, err, s.Dir(), s.Current().Zone("example.com.").Serial, swapped)
	}
	write(second, "3")
	if _, err := s.Reload(); err != nil || s.Current().Zone("example.com.").Serial != 3 {
		t.Errorf("a reload after ReloadFrom does not read the new directory: %v", err)
	}
}
