package zones

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// secret is the content of a file outside the zones directory, shaped like
// /etc/passwd so that, were it read as records, the parse error would quote
// its first line.
const secret = "root:x:0:0:SECRET-MARKER-a7c1:/root:/bin/sh\n"

// outsideFixture makes base/zones (the zones directory) and base/secret.zone
// beside it, and returns both paths.
func outsideFixture(t *testing.T) (zonesDir, secretPath string) {
	t.Helper()
	base := t.TempDir()
	zonesDir = filepath.Join(base, "zones")
	if err := os.Mkdir(zonesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return zonesDir, writeFile(t, base, "secret.zone", secret)
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
}

func TestRecordsFileMustResolveInsideZonesDir(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir, secretPath string) string // returns records_file
	}{
		{"relative path up and out", func(t *testing.T, dir, secretPath string) string {
			return "../secret.zone"
		}},
		{"deep traversal", func(t *testing.T, dir, secretPath string) string {
			return "sub/../../../../../../../../.." + secretPath
		}},
		{"absolute path", func(t *testing.T, dir, secretPath string) string {
			return secretPath
		}},
		{"relative symlink inside pointing out", func(t *testing.T, dir, secretPath string) string {
			symlink(t, "../secret.zone", filepath.Join(dir, "link.zone"))
			return "link.zone"
		}},
		{"absolute symlink inside pointing out", func(t *testing.T, dir, secretPath string) string {
			symlink(t, secretPath, filepath.Join(dir, "link.zone"))
			return "link.zone"
		}},
		{"symlinked directory inside pointing out", func(t *testing.T, dir, secretPath string) string {
			symlink(t, filepath.Dir(secretPath), filepath.Join(dir, "sub"))
			return "sub/secret.zone"
		}},
		{"the zones directory itself", func(t *testing.T, dir, secretPath string) string {
			return "."
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, secretPath := outsideFixture(t)
			rf := tc.setup(t, dir, secretPath)
			writeFile(t, dir, "z.yaml", header+"records_file: "+rf+"\n")
			_, err := Load(dir, nil)
			if err == nil {
				t.Fatal("loaded a records_file outside the zones directory")
			}
			if !strings.Contains(err.Error(), "z.yaml:4: records_file:") {
				t.Errorf("error %q does not name z.yaml:4 and records_file", err)
			}
			if strings.Contains(err.Error(), "SECRET-MARKER") || strings.Contains(err.Error(), "root:x") {
				t.Errorf("error quotes the file outside the zones directory: %v", err)
			}
		})
	}
}

func TestRecordsFileInsideZonesDirLoads(t *testing.T) {
	dir, _ := outsideFixture(t)
	if err := os.MkdirAll(filepath.Join(dir, "data", "v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "data", "v2"), "r.zone", "www IN A 192.0.2.1\n")
	// A symlink that stays inside, as a deploy tool's "current" link does,
	// and an absolute path inside.
	symlink(t, "v2", filepath.Join(dir, "data", "current"))
	writeFile(t, dir, "a.yaml", header+"records_file: data/current/r.zone\n")
	abs, err := filepath.Abs(filepath.Join(dir, "data", "v2", "r.zone"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "b.yaml", strings.Replace(header, "example.com.", "example.net.", 1)+"records_file: "+abs+"\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res := snap.Lookup("www.example.com.", dns.TypeA); len(res.Answer) != 1 {
		t.Errorf("www.example.com. A: %v", res.Answer)
	}
}

// TestZoneFileSymlinkMustResolveInside: a zone file that is a symbolic link
// is read only when it resolves inside the zones directory (as Kubernetes
// ConfigMap volumes link theirs); one pointing outside is refused.
func TestZoneFileSymlinkMustResolveInside(t *testing.T) {
	dir, _ := outsideFixture(t)
	writeFile(t, filepath.Dir(dir), "outside.yaml", header+"records: |\n  www IN A 192.0.2.1\n")
	symlink(t, "../outside.yaml", filepath.Join(dir, "z.yaml"))
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "z.yaml: resolves outside the zones directory") {
		t.Errorf("zone file linked from outside: %v", err)
	}

	dir, _ = outsideFixture(t)
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "..data"), "z.yaml", header+"records: |\n  www IN A 192.0.2.1\n")
	symlink(t, "..data/z.yaml", filepath.Join(dir, "z.yaml"))
	if _, err := Load(dir, nil); err != nil {
		t.Errorf("zone file linked from inside: %v", err)
	}
}

// TestRecordsFileDevice would read /dev/zero without end (until memory runs
// out) if it were read at all.
func TestRecordsFileDevice(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	for _, via := range []string{"absolute", "symlink"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			rf := "/dev/zero"
			if via == "symlink" {
				symlink(t, "/dev/zero", filepath.Join(dir, "zero.zone"))
				rf = "zero.zone"
			}
			writeFile(t, dir, "z.yaml", header+"records_file: "+rf+"\n")
			if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "z.yaml:4: records_file:") {
				t.Errorf("records_file %s: %v", rf, err)
			}
		})
	}
}

func TestFileByteLimit(t *testing.T) {
	lim := Limits{FileBytes: 4096}
	pad := func(n int) string { return "# " + strings.Repeat("x", n) + "\n" }
	small := header + pad(3000)
	big := header + pad(5000)

	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", small)
	if _, err := LoadWithLimits(dir, nil, lim); err != nil {
		t.Errorf("zone file under the limit: %v", err)
	}
	writeFile(t, dir, "z.yaml", big)
	if _, err := LoadWithLimits(dir, nil, lim); err == nil || !strings.Contains(err.Error(), "z.yaml: larger than 4096 bytes (limits.zone_file_bytes)") {
		t.Errorf("zone file over the limit: %v", err)
	}

	dir = t.TempDir()
	writeFile(t, dir, "r.zone", "www IN A 192.0.2.1\n"+strings.Repeat("; padding\n", 500))
	writeFile(t, dir, "z.yaml", header+"records_file: r.zone\n")
	if _, err := LoadWithLimits(dir, nil, lim); err == nil || !strings.Contains(err.Error(), "z.yaml:4: records_file: \"r.zone\": larger than 4096 bytes") {
		t.Errorf("records file over the limit: %v", err)
	}
}

// TestFileByteLimitDefault loads a sparse file one byte over the default
// limit: it must be refused (without reading its 64 MiB).
func TestFileByteLimitDefault(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "z.yaml", header)
	if err := os.Truncate(p, DefaultFileBytes+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "limits.zone_file_bytes") {
		t.Errorf("zone file over the default limit: %v", err)
	}
}

func TestRecordLimit(t *testing.T) {
	lim := Limits{Records: 100}
	tests := []struct {
		name  string
		body  string
		extra map[string]string
		want  string // "" for no error
	}{
		{"at the limit", header + "records: |\n  $GENERATE 1-100 h$ A 192.0.2.1\n", nil, ""},
		{"one over", header + "records: |\n  www IN A 192.0.2.1\n  $GENERATE 1-100 h$ A 192.0.2.1\n", nil,
			"z.yaml:6: the zone has more than 100 records (limits.zone_records)"},
		{"plain records over", header + "records: |\n" + strings.Repeat("  www IN TXT x\n", 101), nil,
			"z.yaml:105: the zone has more than 100 records"},
		{"inline and records_file together", header + "records_file: r.zone\nrecords: |\n  $GENERATE 1-60 a$ A 192.0.2.1\n",
			map[string]string{"r.zone": "www IN A 192.0.2.1\n$GENERATE 1-60 b$ A 192.0.2.1\n"},
			"r.zone:2: the zone has more than 100 records"},
		{"huge range", header + "records: |\n  $GENERATE 1-4000000000 h$ A 192.0.2.1\n", nil, "z.yaml:5:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "z.yaml", tc.body)
			for n, b := range tc.extra {
				writeFile(t, dir, n, b)
			}
			_, err := LoadWithLimits(dir, nil, lim)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRecordLimitDefault: 77 $GENERATE lines of 65536 records each make
// 5,046,272 records from a 3 KiB file. The default limit must refuse them
// while counting, before any is made.
func TestRecordLimitDefault(t *testing.T) {
	var b strings.Builder
	b.WriteString(header + "records: |\n")
	for i := range 77 {
		fmt.Fprintf(&b, "  $GENERATE 0-65535 h$.g%d A 192.0.2.1\n", i)
	}
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", b.String())
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "z.yaml:81: the zone has more than 5000000 records") {
		t.Errorf("error %v", err)
	}

	// One range too large for any zone is refused as it is read, before
	// anything is counted or made.
	writeFile(t, dir, "z.yaml", header+"records: |\n  $GENERATE 1-4000000000 h$ A 192.0.2.1\n")
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "z.yaml:5: $GENERATE range \"1-4000000000\" makes more than 65536 records") {
		t.Errorf("error %v", err)
	}
}

// quotedRe finds the quoted strings in an error.
var quotedRe = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// TestErrorsQuoteOnlyShortTokens: an error about a zone file may quote a
// token of it, cut to maxQuoted bytes and escaped, never a whole line.
func TestErrorsQuoteOnlyShortTokens(t *testing.T) {
	long := strings.Repeat("A", 5000) + "TAIL-MARKER"
	tests := []struct {
		name  string
		body  string
		extra map[string]string
		want  string
	}{
		{"record data", header + "records: |\n  www IN A " + long + "\n", nil, `z.yaml:5: bad A record "AAAA`},
		{"one long word", header + "records: |\n  " + long + "\n", nil, "z.yaml:5:"},
		{"quoted TXT string", header + "records: |\n  www IN TXT \"" + long + "\n", nil, "z.yaml:5:"},
		{"records_file line", header + "records_file: r.zone\n", map[string]string{"r.zone": "www IN AAAA " + long + "\n"}, "r.zone:1: bad AAAA record"},
		{"$GENERATE range", header + "records: |\n  $GENERATE 1-" + long + " h$ A 192.0.2.1\n", nil, "z.yaml:5: bad $GENERATE range"},
		{"zone name", "zone: " + long + "\nsoa: {mname: a., rname: b.}\nns: [a.]\n", nil, "z.yaml:1: zone: invalid domain name"},
		{"mapping key", header + strings.Repeat("A", 900) + "TAIL-MARKER: 1\n", nil, "z.yaml:4: unknown key \"AAAA"},
		{"records_file value", header + "records_file: ../" + long + "\n", nil, "z.yaml:4: records_file: \"../AAAA"},
		{"control characters", header + "records_file: r.zone\n", map[string]string{"r.zone": "www IN A 1\x1b[31m\x07\n"}, `r.zone:1: bad A record "1\x1b[31m\a"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "z.yaml", tc.body)
			for n, b := range tc.extra {
				writeFile(t, dir, n, b)
			}
			_, err := Load(dir, nil)
			if err == nil {
				t.Fatal("loaded without error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if strings.Contains(msg, "TAIL-MARKER") || strings.Contains(msg, "\x1b") || strings.Contains(msg, "\x07") {
				t.Errorf("error quotes too much: %q", msg)
			}
			for _, q := range quotedRe.FindAllString(msg, -1) {
				if len(q) > 2+2*maxQuoted {
					t.Errorf("error quotes %d bytes: %s", len(q), q)
				}
			}
			if len(msg) > 400+len(dir) {
				t.Errorf("error of %d bytes: %q", len(msg), msg)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"www", `"www"`},
		{strings.Repeat("a", 40), `"` + strings.Repeat("a", 40) + `"`},
		{strings.Repeat("a", 41), `"` + strings.Repeat("a", 40) + `"...`},
		{strings.Repeat("a", 39) + "é", `"` + strings.Repeat("a", 39) + `"...`}, // not cut inside a rune
		{"a\x00b\n", `"a\x00b\n"`},
	}
	for _, tc := range tests {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got, want := bounded(`x "`+strings.Repeat("b", 50)+`" y`+"\x1b"), `x "`+strings.Repeat("b", 40)+`"... y\x1b`; got != want {
		t.Errorf("bounded = %q, want %q", got, want)
	}
}

// TestStoreKeepsSnapshotOverLimit: a reload that meets a file over a limit
// fails like any other, and the snapshot being served stays.
func TestStoreKeepsSnapshotOverLimit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+"records_file: r.zone\n")
	writeFile(t, dir, "r.zone", "www IN A 192.0.2.1\n")
	store, err := NewStoreWithLimits(dir, nil, Limits{FileBytes: 4096, Records: 100})
	if err != nil {
		t.Fatal(err)
	}
	before := store.Current()
	serves := func() {
		t.Helper()
		if store.Current() != before {
			t.Fatal("the snapshot was replaced")
		}
		if res := store.Current().Lookup("www.example.com.", dns.TypeA); len(res.Answer) != 1 || res.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("www.example.com. A: %v", res.Answer)
		}
	}

	writeFile(t, dir, "r.zone", "www IN A 192.0.2.2\n"+strings.Repeat("; padding\n", 500))
	if _, err := store.Reload(); err == nil || !strings.Contains(err.Error(), "limits.zone_file_bytes") {
		t.Errorf("reload of a file over the byte limit: %v", err)
	}
	serves()

	writeFile(t, dir, "r.zone", "www IN A 192.0.2.2\n$GENERATE 1-200 h$ A 192.0.2.1\n")
	if _, err := store.Reload(); err == nil || !strings.Contains(err.Error(), "limits.zone_records") {
		t.Errorf("reload of too many records: %v", err)
	}
	serves()

	// The records file replaced by a link to a device: neither the check
	// for unchanged files nor the load may read it.
	if _, err := os.Stat("/dev/zero"); err == nil {
		if err := os.Remove(filepath.Join(dir, "r.zone")); err != nil {
			t.Fatal(err)
		}
		symlink(t, "/dev/zero", filepath.Join(dir, "r.zone"))
		if _, err := store.Reload(); err == nil || !strings.Contains(err.Error(), "resolves outside the zones directory") {
			t.Errorf("reload of a records_file linked to /dev/zero: %v", err)
		}
		serves()
	}
}
