package zones

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const header = `zone: example.com.
soa: {mname: ns1.example.com., rname: hostmaster.example.com.}
ns: [ns1.example.com.]
`

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		extra map[string]string // other files in the directory
		want  string            // substring of the error, with file:line
	}{
		{"unknown top-level key", header + "recrods: |\n  www A 192.0.2.1\n", nil, "z.yaml:4: unknown key \"recrods\""},
		{"unknown soa key", "zone: example.com.\nsoa:\n  mname: a.\n  rname: b.\n  minimun: 3\nns: [a.]\n", nil, "z.yaml:5: unknown key \"minimun\""},
		{"wrong type", header + "ttl: soon\n", nil, "z.yaml:4:"},
		{"bad YAML", "zone: [unclosed\n", nil, "z.yaml:"},
		{"missing zone", "soa: {mname: a., rname: b.}\nns: [a.]\n", nil, "z.yaml:1: zone:"},
		{"missing ns", "zone: example.com.\nsoa: {mname: a., rname: b.}\n", nil, "ns: at least one"},
		{"bad record syntax", header + "records: |\n  www IN A 192.0.2.1\n  mail IN A not-an-ip\n", nil, `z.yaml:6: bad A record "not-an-ip": not an IPv4 address`},
		{"bad record after multi-line entry", header + "records: |\n  @ IN TXT ( \"a\"\n     \"b\" )\n  ; comment\n  x IN MX ten mail\n", nil, "z.yaml:8:"},
		{"record outside the zone", header + "records: |\n  www IN A 192.0.2.1\n  www.example.org. IN A 192.0.2.2\n", nil, "z.yaml:6: www.example.org. is outside the zone"},
		{"CNAME and other data", header + "records: |\n  www IN CNAME x\n  www IN A 192.0.2.2\n", nil, "z.yaml:5: www.example.com. has a CNAME and other data"},
		{"CNAME at apex", header + "records: |\n  @ IN CNAME x.example.org.\n", nil, "CNAME at the zone apex"},
		{"SOA among records", header + "records: |\n  @ IN SOA a. b. 1 2 3 4 5\n", nil, "z.yaml:5: SOA records belong in the soa: key"},
		{"data below a delegation", header + "records: |\n  sub IN NS ns.sub\n  ns.sub IN A 192.0.2.9\n  www.sub IN MX 10 x\n", nil, "z.yaml:7: www.sub.example.com. MX is below the delegation to sub.example.com."},
		{"DNAME unsupported", header + "records: |\n  old IN DNAME new.example.org.\n", nil, "z.yaml:5: DNAME records are not supported"},
		{"$INCLUDE refused", header + "records: |\n  $INCLUDE /etc/passwd\n", nil, "z.yaml:5:"},
		{"records_file missing", header + "records_file: nope.zone\n", nil, "z.yaml:4: records_file:"},
		{"records_file error names that file", header + "records_file: r.zone\n", map[string]string{"r.zone": "www IN A 192.0.2.1\n\nbad IN AAAA 192.0.2.1\n"}, `r.zone:3: bad AAAA record "192.0.2.1": not an IPv6 address`},
		{"$GENERATE counted for lines", header + "records: |\n  $GENERATE 1-3 host$ A 192.0.2.$\n  www IN CNAME x\n  www IN A 192.0.2.1\n", nil, "z.yaml:6: www.example.com. has a CNAME"},
		{"$GENERATE range too large", header + "records: |\n  $GENERATE 0-2000000000 h$ A 192.0.2.1\n", nil, "z.yaml:5: $GENERATE range"},
		{"lower-case directive counted", header + "records: |\n  $generate 1-3 h$ A 192.0.2.$\n  www IN CNAME x\n  www IN A 192.0.2.1\n", nil, "z.yaml:6: www.example.com. has a CNAME"},
		{"a $word owner is a record, not a directive", header + "records: |\n  $x IN TXT \"a\"\n  www IN CNAME foo\n  www IN A 192.0.2.1\n", nil, "z.yaml:6: www.example.com. has a CNAME"},
		{"record without data on the last line", header + "records: |\n  www IN A 192.0.2.1\n  empty IN A\n", nil, "z.yaml:6: empty.example.com. A has no data"},
		{"duplicate zone", header, map[string]string{"y.yaml": header}, "zone example.com. is already defined in"},
		{"duplicate map key", header + "ttl: 5\nttl: 6\n", nil, "z.yaml:"},
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
				t.Fatalf("loaded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadReportsEveryBrokenFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", header+"records: |\n  x IN A 1.2.3\n")
	writeFile(t, dir, "b.yaml", strings.Replace(header, "example.com.", "example.net.", 1)+"bogus: 1\n")
	_, err := Load(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "a.yaml:5:") || !strings.Contains(err.Error(), "b.yaml:4:") {
		t.Fatalf("error %v", err)
	}
}

func TestLoadRecords(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", header+"ttl: 120\nrecords: |\n  www IN A 192.0.2.1\n  www 60 IN A 192.0.2.2\n  www IN A 192.0.2.1\n  WWW.sub IN NS ns1\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := snap.Zone("Example.COM")
	if z == nil {
		t.Fatal("zone not found")
	}
	res := snap.Lookup("www.example.com.", dns.TypeA)
	if len(res.Answer) != 2 {
		t.Fatalf("duplicates not removed: %v", res.Answer)
	}
	for _, rr := range res.Answer {
		if rr.Header().Ttl != 60 {
			t.Errorf("RRset TTL not normalised to the lowest: %v", rr)
		}
	}
	if ns := snap.Lookup("www.sub.example.com.", dns.TypeNS); ns.Authoritative || len(ns.Ns) != 1 {
		t.Errorf("mixed-case delegation not found: %+v", ns)
	}
	// SOA, apex NS, 2 A, 1 NS.
	if z.Records != 5 {
		t.Errorf("records %d, want 5", z.Records)
	}
	if z.Serial == 0 || z.SerialFromFile {
		t.Errorf("derived serial %d", z.Serial)
	}
}

func TestDerivedSerialIncreases(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "z.yaml", header+"records: |\n  www IN A 192.0.2.1\n")
	past := time.Unix(2_000_000_000, 0)
	os.Chtimes(p, past, past)
	first, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	s1 := first.Zone("example.com.").Serial
	if s1 != 2_000_000_000 {
		t.Fatalf("serial %d, want the file's mtime", s1)
	}
	same, _ := Load(dir, first)
	if s := same.Zone("example.com.").Serial; s != s1 {
		t.Errorf("unchanged content changed the serial: %d -> %d", s1, s)
	}
	// New content with an older mtime must still raise the serial.
	writeFile(t, dir, "z.yaml", header+"records: |\n  www IN A 192.0.2.2\n")
	older := past.Add(-time.Hour)
	os.Chtimes(p, older, older)
	next, _ := Load(dir, first)
	if s := next.Zone("example.com.").Serial; s != s1+1 {
		t.Errorf("changed content: serial %d, want %d", s, s1+1)
	}
}

func TestEntryLines(t *testing.T) {
	text := "$TTL 300\n; comment\nwww IN A 192.0.2.1\n\n@ IN TXT ( \"a ; not a comment\"\n  \"b\" )\n  IN TXT \"c\\\" (\"\nx IN A 192.0.2.2 ; trailing\n$GENERATE 1-10/2 h$ A 192.0.2.$\ny IN A 192.0.2.3\n"
	got, err := entryLines(text, &recordCount{limit: DefaultRecords})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{3, 5, 7, 8, 9, 9, 9, 9, 9, 10}
	if !slices.Equal(got, want) {
		t.Errorf("lines %v, want %v", got, want)
	}
	recs, err := parseRecords(text, "example.com.", 3600, 0, &recordCount{limit: DefaultRecords})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("parser produced %d records, line map %d", len(recs), len(want))
	}
}
