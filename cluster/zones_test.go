package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckZonePath: a published path is relative, made of plain parts,
// and can name no file outside the directory it is written to.
func TestCheckZonePath(t *testing.T) {
	for _, p := range []string{"example.com.yaml", "sub/records.txt", "a/b/c/d/e.txt", "x_y-z.yml"} {
		if err := CheckZonePath(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc/passwd", "../x.yaml", "a/../../x", "a/./b", "a//b", ".hidden.yaml", "a/.b",
		"a\\b", "a b", "a/b/c/d/e/f", "x\x00y", strings.Repeat("a", 256)} {
		if err := CheckZonePath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

// TestNewRevisionRefuses: publish refuses what an instance would refuse.
func TestNewRevisionRefuses(t *testing.T) {
	if _, err := NewRevision(map[string][]byte{"../x.yaml": nil}, "me", time.Now()); err == nil {
		t.Error("a path with .. accepted")
	}
	if _, err := NewRevision(map[string][]byte{"sub/records.txt": nil}, "me", time.Now()); err == nil || !strings.Contains(err.Error(), "no zone file") {
		t.Errorf("a revision without a zone file: %v", err)
	}
}

// TestParseManifestRefuses: a manifest is read strictly.
func TestParseManifestRefuses(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for _, m := range []string{
		`{"published":"2026-01-02T03:04:05Z","by":"me","files":[{"path":"../x.yaml","bytes":1,"sha256":"` + sum + `"}]}`,
		`{"published":"2026-01-02T03:04:05Z","by":"me","files":[{"path":"x.yaml","bytes":1,"sha256":"nothex"}]}`,
		`{"published":"2026-01-02T03:04:05Z","by":"me","files":[{"path":"x.yaml","bytes":1,"sha256":"` + sum + `"},{"path":"x.yaml","bytes":1,"sha256":"` + sum + `"}]}`,
		`{"published":"2026-01-02T03:04:05Z","by":"me","files":[],"extra":1}`,
		`{"by":"me","files":[]}`,
		`{"published":"2026-01-02T03:04:05Z","by":"me","files":[]} trailing`,
	} {
		if _, err := parseManifest([]byte(m)); err == nil {
			t.Errorf("manifest accepted: %s", m)
		}
	}
}

// TestMaterialise writes a revision into a private directory: 0700, files
// 0600 with the publish time as their modification time.
func TestMaterialise(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rev, err := NewRevision(map[string][]byte{"example.com.yaml": []byte("zone"), "sub/records.txt": []byte("recs")}, "me", now)
	if err != nil {
		t.Fatal(err)
	}
	rev.ID = 7
	dir, err := rev.Materialise(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 || !strings.HasPrefix(filepath.Base(dir), "rev-7-") {
		t.Errorf("directory %s: %v %v", dir, fi.Mode(), err)
	}
	for p, want := range map[string]string{"example.com.yaml": "zone", "sub/records.txt": "recs"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		fi, serr := os.Stat(filepath.Join(dir, p))
		if err != nil || serr != nil || string(b) != want || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(now) {
			t.Errorf("%s: %q %v %v %v", p, b, fi.Mode(), fi.ModTime(), err)
		}
	}
	rev.Manifest.Files = append(rev.Manifest.Files, ManifestFile{Path: "../escape.yaml"})
	if _, err := rev.Materialise(t.TempDir()); err == nil {
		t.Error("a revision with a path with .. was written")
	}
}
