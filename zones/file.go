package zones

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// File is the YAML form of one zone file: the zone's apex data, its ordinary
// records, and (for geo routing) its regions, checks and services.
type File struct {
	Zone        string    `yaml:"zone"`
	TTL         *uint32   `yaml:"ttl"`
	SOA         SOAFile   `yaml:"soa"`
	NS          []string  `yaml:"ns"`
	Records     textBlock `yaml:"records"`
	RecordsFile string    `yaml:"records_file"`
	// Regions are the zone's data centers, in file order.
	Regions Ordered[RegionFile] `yaml:"regions"`
	// Services are the names answered per query, in file order.
	Services Ordered[ServiceFile] `yaml:"services"`
	// Checks are the health checks services refer to by name.
	Checks Ordered[checkFile] `yaml:"checks"`
	// DNSSEC is the zone's signing settings (see docs/dnssec.md).
	DNSSEC *DNSSECFile `yaml:"dnssec"`
}

// SOAFile is the soa: block of a zone file. Serial is optional: when it is
// omitted Meridian derives one that increases whenever the zone changes.
type SOAFile struct {
	MName   string  `yaml:"mname"`
	RName   string  `yaml:"rname"`
	Serial  *uint32 `yaml:"serial"`
	Refresh *uint32 `yaml:"refresh"`
	Retry   *uint32 `yaml:"retry"`
	Expire  *uint32 `yaml:"expire"`
	Minimum *uint32 `yaml:"minimum"`
	TTL     *uint32 `yaml:"ttl"`
}

// textBlock is a YAML string that remembers where its text starts, so that
// errors inside inline master-file records point at the right line.
type textBlock struct {
	Text string
	// Offset is added to a line number within Text (counted from 1) to get
	// the line in the zone file.
	Offset int
}

// UnmarshalYAML records the text and its position.
func (t *textBlock) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errAt(n.Line, "records must be a string of master-file lines (use records: |)")
	}
	t.Text = n.Value
	t.Offset = n.Line - 1
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		t.Offset = n.Line // block scalars start on the line after the indicator
	}
	return nil
}

// Default values for the SOA timers, as recommended by RIPE-203.
const (
	defaultTTL     = 3600
	defaultRefresh = 7200
	defaultRetry   = 3600
	defaultExpire  = 1209600
	defaultMinimum = 300
)

// fileError is an error about a place in a file.
type fileError struct {
	file string
	err  error
}

// Error names the file and line; it quotes no more of the file than a short
// token (see bounded).
func (e *fileError) Error() string {
	if le, ok := e.err.(*lineError); ok && le.line > 0 {
		return bounded(fmt.Sprintf("%s:%d: %s", e.file, le.line, le.msg))
	}
	return bounded(fmt.Sprintf("%s: %s", e.file, e.err))
}

func (e *fileError) Unwrap() error { return e.err }

// loadFile reads and decodes one zone file and its records into a Zone.
// Every problem found is returned, each naming its file and line. The zone
// file and its records_file are read only from inside the zone file's
// directory (see zoneDir), within lim.
func loadFile(path string, lim Limits) (*Zone, []error) {
	wrap := func(err error) []error { return []error{&fileError{file: path, err: err}} }
	dir, err := openZoneDir(filepath.Dir(path), lim.FileBytes)
	if err != nil {
		return nil, wrap(err)
	}
	defer dir.Close()
	src, err := dir.read(path)
	if err != nil {
		return nil, wrap(err)
	}
	h := sha256.New()
	h.Write(src)

	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, wrap(syntaxError(src, err))
	}
	if len(doc.Content) == 0 {
		return nil, wrap(errAt(1, "empty zone file"))
	}
	var f File
	if err := decodeStrict(doc.Content[0], &f); err != nil {
		return nil, wrap(err)
	}
	root := doc.Content[0]
	keyLine := func(key string) int {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return root.Content[i].Line
			}
		}
		return 1
	}

	b := newBuilder(path)
	b.zone.inputs = []string{path}
	if err := b.header(&f, keyLine); err != nil {
		return nil, wrap(err)
	}
	count := &recordCount{limit: lim.Records}
	if strings.TrimSpace(f.Records.Text) != "" {
		recs, err := parseRecords(f.Records.Text, b.zone.Origin, b.ttl, f.Records.Offset, count)
		if err != nil {
			return nil, wrap(err)
		}
		b.add(path, recs)
	}
	if f.RecordsFile != "" {
		rpath := f.RecordsFile
		if !filepath.IsAbs(rpath) {
			rpath = filepath.Join(filepath.Dir(path), rpath)
		}
		text, err := dir.read(rpath)
		if err != nil {
			return nil, wrap(errAt(keyLine("records_file"), "records_file: %s: %v", quote(f.RecordsFile), err))
		}
		h.Write(text)
		b.zone.inputs = append(b.zone.inputs, rpath)
		recs, err := parseRecords(string(text), b.zone.Origin, b.ttl, 0, count)
		if err != nil {
			return nil, []error{&fileError{file: rpath, err: err}}
		}
		b.reserve(len(recs))
		b.add(rpath, recs)
	}
	b.addRegions(&f)
	b.addServices(&f)
	b.addDNSSEC(&f, root, time.Now())
	z, errs := b.finish()
	if z != nil {
		if z.DNSSEC != nil {
			h.Write(z.DNSSEC.Keys.Hash[:])
		}
		copy(z.Hash[:], h.Sum(nil))
		if fi, err := os.Stat(path); err == nil {
			z.modTime = fi.ModTime()
		}
	}
	return z, errs
}

// fqdn makes a name from a zone file absolute: names without a trailing dot
// are relative to origin, as in a master file, and "@" is the origin itself.
func fqdn(name, origin string) (string, error) {
	if name == "@" {
		return origin, nil
	}
	if !dns.IsFqdn(name) {
		if origin == "" || origin == "." {
			name += "."
		} else {
			name = name + "." + origin
		}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("invalid domain name %s", quote(name))
	}
	return dns.CanonicalName(name), nil
}
