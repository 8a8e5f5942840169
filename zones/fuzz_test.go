package zones

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// fuzzZoneName is the name the fuzzed zone file is written under, and
// fuzzRecordsName the records file beside it that records_file may name.
const (
	fuzzZoneName    = "fuzz.yaml"
	fuzzRecordsName = "fuzz.zone"
)

// fuzzRecords is the content of the records file beside the fuzzed zone.
const fuzzRecords = `$TTL 600
@        IN A     192.0.2.40
www      IN CNAME @
alias    IN CNAME www.example.com.
`

// fuzzZoneSeeds are the demo zone files and broken variants of them.
func fuzzZoneSeeds(f *testing.F) []string {
	f.Helper()
	var seeds []string
	for _, name := range []string{"example.com.yaml", "example.net.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "demo", "zones", name))
		if err != nil {
			f.Fatal(err)
		}
		// The records file beside the fuzzed zone stands in for the demo's.
		seeds = append(seeds, strings.ReplaceAll(string(b), "example.net.zone", fuzzRecordsName))
	}
	demo := seeds[0]
	variants := [][2]string{
		{"192.0.2.53", "192.0.2.999"},                         // bad address
		{"ns: [ns1.example.com., ns2.example.com.]", "ns: ["}, // YAML syntax
		{"ttl: 3600", "tll: 3600"},                            // unknown key
		{"docs       IN CNAME  www", "@ IN CNAME www"},        // CNAME at the apex
		{"sip        IN A      192.0.2.60", "x.sub IN TXT \"below a cut\""},
		{"  @          IN MX 10  mail", "  $GENERATE 1-20/3 host$ A 192.0.2.$"},
		{"  @          IN MX 10  mail", "  $INCLUDE /etc/passwd"},
		{"  @          IN MX 10  mail", "  @ IN TXT ( \"a\"\n    \"b\" ) ; comment"},
		{"  @          IN MX 10  mail", "  other.example.org. IN A 192.0.2.1"},
		{"  @          IN MX 10  mail", "  @ CH TXT \"chaos\""},
		{"{ region: us-east,  address: 192.0.2.10, weight: 3 }", "{ region: nowhere, address: 192.0.2.10 }"},
		{"select: weighted", "select: sideways"},
		{"serial: 2026112901", "serial: -1"},
		{"zone: example.com.", "zone: \"exa mple..com\""},
	}
	for _, v := range variants {
		if !strings.Contains(demo, v[0]) {
			f.Fatalf("seed variant: %q is not in the demo zone", v[0])
		}
		seeds = append(seeds, strings.Replace(demo, v[0], v[1], 1))
	}
	seeds = append(seeds,
		"",
		"zone: example.com.\n",
		"- a\n- b\n",
		"zone: example.com.\nsoa: {mname: ns1, rname: hostmaster}\nns: [ns1]\nrecords: {a: b}\n",
		"zone: example.com.\nsoa: {mname: ns1, rname: hostmaster}\nns: [ns1]\nrecords: \"www IN A 192.0.2.1\\nwww IN CNAME x\"\n",
		"zone: example.com.\nsoa: {mname: ns1, rname: hostmaster}\nns: [ns1]\nrecords_file: "+fuzzRecordsName+"\n",
		"zone: example.com.\nsoa: &s {mname: ns1, rname: hostmaster}\nns: [ns1]\nregions: {a: *s}\n",
		"zone: .\nsoa: {mname: a., rname: b.}\nns: [a.]\nrecords: |\n  * IN A 192.0.2.1\n  a IN NS b.\n",
	)
	return seeds
}

// bigGenerate matches inputs that may hold a $GENERATE range of a thousand
// or more records, which the fuzz targets skip. The zone parser builds every
// record of a range (up to 65536), so a few such lines make one input take
// seconds; and entryLines allocates one int per record of any range before
// the parser rejects those above 65536, so "$GENERATE 0-2000000000 ..."
// exhausts memory instead of failing with an error (reported to the zones
// owner).
var bigGenerate = regexp.MustCompile(`(?i)generate[\s\S]*\d{4}`)

// dollarLine finds lines that start with "$". entryLines takes every entry
// starting with "$" other than "$GENERATE" (in capitals) for a directive
// that makes no record, while the zone parser reads directives in any case
// and takes other "$" words ("$x IN A ...") for owner names; the records
// after such an entry get the line of the one before (or 0). That is
// reported to the zones owner; FuzzParseRecords skips such text so that
// its line check finds other problems.
var dollarLine = regexp.MustCompile(`(?m)^[ \t]*\$(\S*)`)

// oddDirective reports whether text has a "$" entry the two readers of a
// master file may count differently.
func oddDirective(text string) bool {
	for _, m := range dollarLine.FindAllStringSubmatch(text, -1) {
		if !strings.HasPrefix(m[0], "$") {
			return true // indented: the parser takes it for a type or TTL
		}
		switch m[1] {
		case "TTL", "ORIGIN", "INCLUDE", "GENERATE":
		default:
			return true
		}
	}
	return false
}

// errLineRe picks the file and line out of a loader error.
var errLineRe = regexp.MustCompile(`^(.+?):(\d+): `)

// lineBreaks matches what the YAML scanner takes for a line break: CR LF,
// CR, LF, NEL, LS and PS.
var lineBreaks = regexp.MustCompile("\r\n|\r|\n|\u0085|\u2028|\u2029")

// countLines returns the number of lines of text, counting a last line
// without a line break.
func countLines(text []byte) int {
	return len(lineBreaks.FindAllIndex(text, -1)) + 1
}

// FuzzLoad loads arbitrary bytes as a zone file. Load must not panic; every
// error it returns must name a file in the zones directory and, when it
// gives a line, a line that file has; a zone that loads must be the file's
// and answer lookups.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzZoneSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bigGenerate.Match(data) {
			t.Skip("large $GENERATE range")
		}
		if bytes.Contains(data, []byte("records_file")) &&
			(bytes.ContainsAny(data, `/\`) || bytes.Contains(data, []byte(".."))) {
			t.Skip("records_file outside the zones directory")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, fuzzZoneName)
		files := map[string][]byte{path: data, filepath.Join(dir, fuzzRecordsName): []byte(fuzzRecords)}
		for p, b := range files {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := Load(dir, nil)
		if err != nil {
			if snap != nil {
				t.Fatalf("Load returned a snapshot and an error: %v", err)
			}
			checkFuzzLoadError(t, err, files)
			return
		}
		zs := snap.Zones()
		if len(zs) != 1 || zs[0].File != path {
			t.Fatalf("loaded %d zones from one file", len(zs))
		}
		z := zs[0]
		if z.Records < 2 || z.SOA() == nil {
			t.Fatalf("zone %s loaded with %d records and SOA %v", z.Origin, z.Records, z.SOA())
		}
		for _, q := range []struct {
			name  string
			qtype uint16
		}{
			{z.Origin, dns.TypeSOA}, {z.Origin, dns.TypeNS}, {z.Origin, dns.TypeANY},
			{"www." + z.Origin, dns.TypeA}, {"a.b.c.www." + z.Origin, dns.TypeAAAA},
			{"x.apps." + z.Origin, dns.TypeA}, {"x.cdn." + z.Origin, dns.TypeA},
			{"_sip._udp." + z.Origin, dns.TypeSRV}, {"sub." + z.Origin, dns.TypeDS},
		} {
			if len(q.name) > 255 {
				continue
			}
			res := snap.Lookup(q.name, q.qtype)
			if res.Rcode == dns.RcodeSuccess && len(res.Answer) == 0 && len(res.Ns) == 0 && res.Service == nil {
				t.Errorf("%s %s: NOERROR with empty answer and authority", q.name, dns.TypeToString[q.qtype])
			}
			if res.Rcode == dns.RcodeNameError && (len(res.Ns) != 1 || res.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("%s %s: NXDOMAIN without the SOA: %v", q.name, dns.TypeToString[q.qtype], res.Ns)
			}
		}
	})
}

// checkFuzzLoadError checks that every error of a failed load names one of
// files and, when it names a line, a line the file has.
func checkFuzzLoadError(t *testing.T, err error, files map[string][]byte) {
	t.Helper()
	errs := []error{err}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		msg := e.Error()
		named := ""
		for p := range files {
			if strings.HasPrefix(msg, p+":") {
				named = p
			}
		}
		if named == "" {
			t.Fatalf("error does not start with a file name: %q", msg)
		}
		if m := errLineRe.FindStringSubmatch(msg); m != nil && m[1] == named {
			line, _ := strconv.Atoi(m[2])
			if n := countLines(files[named]); line < 1 || line > n {
				t.Fatalf("error names line %d of %s, which has %d lines: %q", line, named, n, msg)
			}
		}
	}
}

// fuzzRecordSeeds are master-file texts, valid and broken.
var fuzzRecordSeeds = []string{
	fuzzRecords,
	"ns1        IN A      192.0.2.53\nns2        IN AAAA   2001:db8::53\n@          IN MX 10  mail\n",
	"@ IN SOA ns1 hostmaster ( 1 ; serial\n  7200 3600\n  1209600 300 )\nwww IN A 192.0.2.1\n",
	"$ORIGIN sub.example.com.\nwww IN A 192.0.2.1\n$ORIGIN example.com.\nx IN TXT \"a;b\" \"c\\\"d\"\n",
	"$GENERATE 1-10 host$ A 192.0.2.$\n$GENERATE 0-6/2 ${1,3,x}.gen CNAME @\nlast IN A 192.0.2.9\n",
	"$TTL 1h\nwww 300 IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n",
	"www IN A 192.0.2.999\n",
	"www IN A\n",
	"www IN CNAME\n",
	"txt IN TXT \"unterminated\n",
	"paren IN TXT ( \"a\"\n",
	"$INCLUDE other.zone\n",
	"$GENERATE 5-1 x A 192.0.2.1\n",
	"\\# IN TYPE65534 \\# 3 010203\nesc\\.aped IN A 192.0.2.1\n",
	"@ IN CAA 0 issue \"ca.example.net\"\n@ IN HTTPS 1 . alpn=h2\n_tcp IN SRV 0 0 0 .\n",
}

// FuzzParseRecords parses arbitrary master-file text. It must not panic;
// an error must point at a line of the text, and every record it returns
// must carry the line its entry is on.
func FuzzParseRecords(f *testing.F) {
	for _, s := range fuzzRecordSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if bigGenerate.MatchString(text) {
			t.Skip("large $GENERATE range")
		}
		if oddDirective(text) {
			t.Skip("an entry starting with $ that is not a directive in capitals")
		}
		recs, err := parseRecords(text, "example.com.", 3600, 0, &recordCount{limit: DefaultRecords})
		n := countLines([]byte(text))
		if err != nil {
			var le *lineError
			if !errors.As(err, &le) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			// Line 0 is "no line": the zone parser gives it to some
			// errors at the end of the text.
			if le.line < 0 || le.line > n {
				t.Fatalf("error at line %d of a %d-line text: %v", le.line, n, err)
			}
			return
		}
		for _, r := range recs {
			if r.rr == nil {
				t.Fatalf("nil record")
			}
			if r.line < 1 || r.line > n {
				t.Fatalf("record %v at line %d of a %d-line text", r.rr, r.line, n)
			}
		}
	})
}
