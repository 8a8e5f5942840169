package geo_test

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/meridian-dns/meridian/geo"
	"github.com/meridian-dns/meridian/geo/geotest"
	"github.com/meridian-dns/meridian/geo/mmdbbuild"
	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// treeCorruption is how many bytes at the start of a file the corruption
// tests overwrite: the finding that led to verification overwrote the first
// 1,500 bytes of a database, its search tree, and left the metadata at the
// end intact.
const treeCorruption = 1500

// metadataMarker starts the metadata section at the end of an MMDB file.
var metadataMarker = []byte("\xab\xcd\xefMaxMind.com")

// bigCityEntries is a City database whose search tree is larger than
// treeCorruption bytes, so that overwriting that much hits the tree alone.
// It places clientIP in the US, like usEntries.
func bigCityEntries() []mmdbbuild.Entry {
	entries := append([]mmdbbuild.Entry(nil), usEntries...)
	for i := range 64 {
		entries = append(entries, mmdbbuild.Entry{
			Network: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16),
			Country: "DE", Continent: "EU", ASN: uint32(64512 + i),
		})
	}
	return entries
}

// layout returns the sizes of the parts of the MMDB file data: its search
// tree, and where its data section and its metadata start.
func layout(t *testing.T, data []byte) (tree, dataStart, metaStart int) {
	t.Helper()
	r, err := maxminddb.OpenBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	tree = int(r.Metadata.NodeCount * r.Metadata.RecordSize / 4)
	return tree, tree + 16, bytes.LastIndex(data, metadataMarker)
}

// corruptCopy writes a copy of the database at src into dir with the bytes
// [from, from+n) overwritten by fill, checks that the metadata is
// untouched, and returns the path of the copy.
func corruptCopy(t *testing.T, src, dir string, from, n int, fill func(i int) byte) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, meta := layout(t, data); from+n > meta {
		t.Fatalf("corrupting [%d, %d) would reach the metadata at %d", from, from+n, meta)
	}
	for i := from; i < from+n; i++ {
		data[i] = fill(i)
	}
	// The metadata still reads: only verification can tell.
	if _, err := maxminddb.OpenBytes(data); err != nil {
		t.Fatalf("the corrupt copy does not even open: %v", err)
	}
	path := filepath.Join(dir, "corrupt.mmdb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// treeFills are the ways the corruption tests overwrite the search tree.
var treeFills = []struct {
	name string
	fill func(i int) byte
}{
	{"zeros", func(int) byte { return 0 }},
	{"0xff", func(int) byte { return 0xff }},
	{"text", func(i int) byte { return "overwritten "[i%12] }},
	{"random", func() func(int) byte {
		rng := rand.New(rand.NewPCG(1, 2))
		return func(int) byte { return byte(rng.Uint32()) }
	}()},
}

// TestOpenRejectsCorruptTree checks that a database whose search tree was
// overwritten, metadata intact, is refused at start with an error naming
// the file, rather than loaded and answering "unknown" for every client.
func TestOpenRejectsCorruptTree(t *testing.T) {
	good := geotest.WriteMMDB(t, bigCityEntries())
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if tree, _, _ := layout(t, data); tree <= treeCorruption {
		t.Fatalf("the test database's search tree is %d bytes, want more than %d", tree, treeCorruption)
	}
	for _, f := range treeFills {
		t.Run(f.name, func(t *testing.T) {
			bad := corruptCopy(t, good, t.TempDir(), 0, treeCorruption, f.fill)
			for name, open := range map[string]func() error{
				"Open":      func() error { _, err := geo.Open(geo.Paths{City: bad}); return err },
				"NewSource": func() error { _, err := geo.NewSource(geo.Paths{City: bad}, discardLogger()); return err },
			} {
				err := open()
				var fe *geo.FileError
				if !errors.As(err, &fe) || fe.Path != bad {
					t.Fatalf("%s error = %v, want a FileError naming %s", name, err, bad)
				}
				if want := "geo: open " + bad + ": corrupt database: "; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s error %q, want prefix %q", name, err, want)
				}
			}
		})
	}
}

// TestOpenRejectsCorruptData checks that damage to the data section that
// the search tree points into is refused too.
func TestOpenRejectsCorruptData(t *testing.T) {
	good := geotest.WriteMMDB(t, bigCityEntries())
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	_, start, _ := layout(t, data)
	bad := corruptCopy(t, good, t.TempDir(), start, 64, func(int) byte { return 0xff })
	_, err = geo.Open(geo.Paths{City: bad})
	var fe *geo.FileError
	if !errors.As(err, &fe) || fe.Path != bad || !strings.Contains(err.Error(), "corrupt database") {
		t.Fatalf("Open error = %v, want a FileError naming %s saying the database is corrupt", err, bad)
	}
}

// TestSourceRejectsCorruptReload checks that a Source serving a good
// database refuses a reload to a copy with an overwritten search tree,
// reports it naming the file, and keeps locating clients with the old one.
func TestSourceRejectsCorruptReload(t *testing.T) {
	good := geotest.WriteMMDB(t, bigCityEntries())
	path := filepath.Join(t.TempDir(), "city.mmdb")
	copyFile(t, good, path)
	src, err := geo.NewSource(geo.Paths{City: path}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	var notified []error
	src.OnReload = func(err error) { notified = append(notified, err) }
	old := src.Current()
	if got := src.Lookup(clientIP).Country; got != "US" {
		t.Fatalf("before the reload country = %q, want US", got)
	}

	replaceFile(t, corruptCopy(t, good, t.TempDir(), 0, treeCorruption, treeFills[0].fill), path)
	err = src.Reload()
	var fe *geo.FileError
	if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(err.Error(), "corrupt database") {
		t.Fatalf("Reload error = %v, want a FileError naming %s saying the database is corrupt", err, path)
	}
	if len(notified) != 1 || notified[0] != err {
		t.Errorf("OnReload calls = %v, want one with the error", notified)
	}
	if src.Current() != old {
		t.Error("the corrupt database was swapped in")
	}
	for _, c := range []struct {
		ip   string
		want string
	}{{clientIP.String(), "US"}, {"10.3.0.1", "DE"}} {
		if got := src.Lookup(netip.MustParseAddr(c.ip)).Country; got != c.want {
			t.Errorf("after the refused reload %s is in %q, want %q", c.ip, got, c.want)
		}
	}
}

// writeRaw writes a GeoIP2-City database whose records are given as they
// are stored, so that a test can give a record a layout Meridian cannot
// read (which mmdbbuild refuses to write), and returns its path.
func writeRaw(t *testing.T, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: mmdbbuild.TypeCity, Description: map[string]string{"en": "test"},
		IncludeReservedNetworks: true, IPVersion: 6, RecordSize: 28,
	})
	if err != nil {
		t.Fatal(err)
	}
	for network, rec := range records {
		_, n, err := net.ParseCIDR(network)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "raw.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// unreadableRecords are City records for 20 good networks in 10.0.0.0/11,
// distinct so that the writer does not merge them, and, above them in address order and so past the networks that
// verification samples, one record at 192.0.2.0/24 that is a valid MMDB
// value but not of the layout Meridian reads: its country is a string,
// not a map.
func unreadableRecords() map[string]mmdbtype.Map {
	recs := map[string]mmdbtype.Map{}
	for i := range 20 {
		recs[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16).String()] = mmdbtype.Map{
			"country":                  mmdbtype.Map{"iso_code": mmdbtype.String("DE")},
			"autonomous_system_number": mmdbtype.Uint32(64512 + i),
		}
	}
	recs["192.0.2.0/24"] = mmdbtype.Map{"country": mmdbtype.String("US")}
	return recs
}

// TestOpenRejectsUnreadableSample checks that verification decodes sample
// records the way queries do: a file that is a valid MMDB but whose first
// network Meridian cannot read is refused.
func TestOpenRejectsUnreadableSample(t *testing.T) {
	path := writeRaw(t, map[string]mmdbtype.Map{
		"10.0.0.0/16":  {"country": mmdbtype.String("DE")},
		"10.1.0.0/16":  {"country": mmdbtype.Map{"iso_code": mmdbtype.String("DE")}},
		"192.0.2.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("US")}},
	})
	_, err := geo.Open(geo.Paths{City: path})
	var fe *geo.FileError
	if !errors.As(err, &fe) || fe.Path != path || !strings.Contains(err.Error(), "record of 10.0.0.0/16 cannot be read") {
		t.Fatalf("Open error = %v, want a FileError naming %s and the unreadable network", err, path)
	}
}

// TestLookupErrorsCounted checks that a record that cannot be decoded at
// query time is counted and logged, not silently taken for "no record",
// and that the count survives a reload.
func TestLookupErrorsCounted(t *testing.T) {
	raw := writeRaw(t, unreadableRecords())
	path := filepath.Join(t.TempDir(), "city.mmdb")
	copyFile(t, raw, path)
	var logged syncbuf.Buffer
	src, err := geo.NewSource(geo.Paths{City: path}, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatalf("the database with one unreadable record past the samples did not open: %v", err)
	}
	bad := netip.MustParseAddr("192.0.2.1")
	good := netip.MustParseAddr("10.3.0.1")

	if got := src.Current().Lookup(good).Country; got != "DE" {
		t.Fatalf("good record: country %q, want DE", got)
	}
	if n := src.Current().LookupErrors(geo.RoleCity); n != 0 {
		t.Fatalf("LookupErrors after a good lookup = %d, want 0", n)
	}
	for range 3 {
		if got := src.Current().Lookup(bad); !got.IsZero() {
			t.Errorf("unreadable record: Lookup = %v, want the zero Location", got)
		}
	}
	if n := src.Current().LookupErrors(geo.RoleCity); n != 3 {
		t.Errorf("LookupErrors after three failed lookups = %d, want 3", n)
	}
	for _, r := range []geo.Role{geo.RoleCountry, geo.RoleASN} {
		if n := src.Current().LookupErrors(r); n != 0 {
			t.Errorf("LookupErrors(%s) = %d, want 0", r, n)
		}
	}
	out := logged.String()
	for _, want := range []string{"geoip lookup failed", "database=city", "file=" + path, "network=192.0.2.0/24", "error="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	// The count belongs to the Source, not to one set of databases.
	replaceFile(t, geotest.WriteMMDB(t, usEntries), path)
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := src.Current().LookupErrors(geo.RoleCity); n != 3 {
		t.Errorf("LookupErrors after a reload = %d, want 3", n)
	}
	if got := src.Lookup(bad).Country; got != "US" {
		t.Errorf("after the reload country = %q, want US", got)
	}
}
