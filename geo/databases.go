package geo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// Paths names the GeoIP database files to open. Every field is optional; a
// City database also answers Country questions, so Country is only needed
// when no City database is configured or to fill records the City database
// leaves without a country.
type Paths struct {
	// City is a GeoIP2/GeoLite2/DB-IP City (or Country) database.
	City string `yaml:"city" mapstructure:"city"`
	// Country is a GeoIP2/GeoLite2/DB-IP Country (or City) database.
	Country string `yaml:"country" mapstructure:"country"`
	// ASN is a GeoLite2-ASN style database (its database type must contain
	// "ASN" or "ISP").
	ASN string `yaml:"asn" mapstructure:"asn"`
}

// Role names the purpose a database file is opened for.
type Role string

// The roles a database can be opened for, matching the fields of Paths.
const (
	RoleCity    Role = "city"
	RoleCountry Role = "country"
	RoleASN     Role = "asn"
)

// roles lists the roles in lookup order.
var roles = [...]Role{RoleCity, RoleCountry, RoleASN}

// path returns the configured file for role, or "" when none is.
func (p Paths) path(r Role) string {
	switch r {
	case RoleCity:
		return p.City
	case RoleCountry:
		return p.Country
	case RoleASN:
		return p.ASN
	}
	return ""
}

// FileError reports a GeoIP database file that could not be read, parsed or
// used for its role. Its message names the file:
// "geo: open testdata/x.mmdb: invalid MaxMind DB file".
type FileError struct {
	// Path is the file as configured.
	Path string
	// Err is the underlying problem.
	Err error
}

// Error implements error.
func (e *FileError) Error() string {
	return "geo: open " + e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying problem.
func (e *FileError) Unwrap() error { return e.Err }

// fileError wraps err for path, dropping the duplicate "open path" prefix of
// an *fs.PathError for the same file.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return &FileError{Path: path, Err: err}
}

// DatabaseInfo describes one opened database, for logs and metrics.
type DatabaseInfo struct {
	// Role is what the file was opened for.
	Role Role
	// Path is the file as configured.
	Path string
	// Type is the database_type from the file's metadata, such as
	// "GeoLite2-City".
	Type string
	// BuildTime is the build_epoch from the file's metadata.
	BuildTime time.Time
	// SHA256 is the digest of the file content that was loaded.
	SHA256 [sha256.Size]byte
}

// database is one opened file.
type database struct {
	info   DatabaseInfo
	reader *maxminddb.Reader
}

// Databases is a set of opened GeoIP databases. Its readers work on copies
// of the files held in memory, so Lookup is safe for concurrent use and never
// touches the files again. Databases is immutable once opened.
type Databases struct {
	paths Paths
	dbs   [len(roles)]*database
	// closed makes Lookup answer the zero Location after Close. It is
	// read with one atomic load.
	closed atomic.Bool
	// cache holds recent lookups for CachedLookup.
	cache *locationCache
	// errs counts the lookups whose record could not be read; a Source
	// shares it among the sets it opens.
	errs *lookupErrors
}

// CachedLookup is Lookup through a bounded cache of the networks recently
// looked up (cache.go), which lives and dies with this set of databases.
func (d *Databases) CachedLookup(ip netip.Addr) Location {
	return *d.Locate(ip)
}

// Locate is CachedLookup without the copy: the location it returns is
// shared with the cache and must not be modified. It is never nil.
func (d *Databases) Locate(ip netip.Addr) *Location {
	if d == nil || !ip.IsValid() || d.closed.Load() {
		return &unknown
	}
	return d.cache.lookup(ip.Unmap().WithZone(""), d.lookupSpan)
}

// unknown is the location of an address no database was asked about.
var unknown Location

// Open reads the configured database files into memory, checks that each
// one is of a type that fits its role (City and Country paths need a City
// or Country database; GeoIP2, GeoLite2 and DB-IP types are accepted; the
// ASN path needs a database whose type contains "ASN" or "ISP") and
// verifies it (see verify): a damaged file is refused rather than served.
// Errors are *FileError values naming the file. Open with no paths
// configured returns an empty set whose lookups return the zero Location.
// Records that fail to decode at lookup time are logged to slog.Default();
// a Source logs them to its own logger.
func Open(p Paths) (*Databases, error) {
	return open(p, newLookupErrors(slog.Default()))
}

// open is Open with the lookup error counters the set reports to.
func open(p Paths, errs *lookupErrors) (*Databases, error) {
	d := &Databases{paths: p, cache: newLocationCache(), errs: errs}
	for i, role := range roles {
		path := p.path(role)
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fileError(path, err)
		}
		db, err := openBytes(role, path, data)
		if err != nil {
			return nil, err
		}
		d.dbs[i] = db
	}
	return d, nil
}

// openBytes opens and verifies the content data of the file path for role.
// The reader keeps data, which must not be modified afterwards.
func openBytes(role Role, path string, data []byte) (*database, error) {
	reader, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fileError(path, err)
	}
	dbType := reader.Metadata.DatabaseType
	if err := checkType(role, dbType); err != nil {
		return nil, fileError(path, err)
	}
	if err := verify(reader); err != nil {
		return nil, fileError(path, err)
	}
	return &database{
		info: DatabaseInfo{
			Role:      role,
			Path:      path,
			Type:      dbType,
			BuildTime: reader.Metadata.BuildTime(),
			SHA256:    sha256.Sum256(data),
		},
		reader: reader,
	}, nil
}

// sampleNetworks is how many networks, in address order, verify decodes
// the way a query does.
const sampleNetworks = 16

// sampleAddrs are addresses verify looks up and decodes the way a query
// does, besides the first networks: well-known resolvers on several
// continents, which any full database places.
var sampleAddrs = []netip.Addr{
	netip.MustParseAddr("1.1.1.1"),
	netip.MustParseAddr("8.8.8.8"),
	netip.MustParseAddr("9.9.9.9"),
	netip.MustParseAddr("77.88.8.8"),
	netip.MustParseAddr("114.114.114.114"),
	netip.MustParseAddr("200.160.0.10"),
	netip.MustParseAddr("2001:4860:4860::8888"),
	netip.MustParseAddr("2606:4700:4700::1111"),
	netip.MustParseAddr("2a02:6b8::feed:0ff"),
}

// verify checks a database before it is put in service. First the reader's
// own Verify walks the whole search tree, checks the separator and decodes
// every data record the tree points to, which catches an overwritten or
// truncated file whose metadata survived. That costs time in proportion to
// the nodes and distinct records (about 1.5 s for 18 million nodes and
// 250,000 records, 15 s or more for 3.7 million records) and transient
// memory, so it is done when a file is opened or reloaded, never per
// query, and not again for content already in service or already
// refused. Then the first networks and a few well-known addresses are
// looked up and decoded as a query decodes them, which catches a valid
// file whose records do not have the layout Meridian reads.
func verify(reader *maxminddb.Reader) error {
	if err := reader.Verify(); err != nil {
		return fmt.Errorf("corrupt database: %w", err)
	}
	n := 0
	for res := range reader.Networks() {
		if err := decodeSample(res); err != nil {
			return err
		}
		if n++; n == sampleNetworks {
			break
		}
	}
	for _, ip := range sampleAddrs {
		if ip.Is6() && reader.Metadata.IPVersion == 4 {
			continue
		}
		if err := decodeSample(reader.Lookup(ip)); err != nil {
			return err
		}
	}
	return nil
}

// decodeSample decodes the record of one lookup made by verify.
func decodeSample(res maxminddb.Result) error {
	if err := res.Err(); err != nil {
		return fmt.Errorf("corrupt database: %w", err)
	}
	if !res.Found() {
		return nil
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return fmt.Errorf("record of %s cannot be read: %w", res.Prefix(), err)
	}
	return nil
}

// checkType reports whether a database of type dbType can serve role.
func checkType(role Role, dbType string) error {
	t := strings.ToLower(dbType)
	switch role {
	case RoleCity, RoleCountry:
		// GeoIP2-City, GeoLite2-Country, GeoIP2-Enterprise, DBIP-City-Lite,
		// DBIP-Country-Lite and "DBIP-Location (compat=City)" all carry the
		// country/continent/location record layout.
		for _, want := range []string{"city", "country", "enterprise", "location"} {
			if strings.Contains(t, want) {
				return nil
			}
		}
		return fmt.Errorf("database type %q is not a City or Country database", dbType)
	case RoleASN:
		if strings.Contains(t, "asn") || strings.Contains(t, "isp") {
			return nil
		}
		return fmt.Errorf("database type %q is not an ASN database "+
			"(ASN fields stored in a City database are used without configuring it as asn)", dbType)
	}
	return fmt.Errorf("unknown database role %q", role)
}

// Empty reports whether no database is configured, in which case every
// lookup returns the zero Location.
func (d *Databases) Empty() bool {
	for _, db := range d.dbs {
		if db != nil {
			return false
		}
	}
	return true
}

// Paths returns the file names the set was opened from.
func (d *Databases) Paths() Paths { return d.paths }

// Info describes the opened databases in the order city, country, asn.
func (d *Databases) Info() []DatabaseInfo {
	var out []DatabaseInfo
	for _, db := range d.dbs {
		if db != nil {
			out = append(out, db.info)
		}
	}
	return out
}

// BuildTime returns the build time of the newest opened database, or the
// zero time when none is open.
func (d *Databases) BuildTime() time.Time {
	var newest time.Time
	for _, db := range d.dbs {
		if db != nil && db.info.BuildTime.After(newest) {
			newest = db.info.BuildTime
		}
	}
	return newest
}

// Close makes later lookups return the zero Location and drops nothing
// else: the readers are backed by ordinary heap memory (not a memory map), so
// lookups already running on another goroutine finish safely and the garbage
// collector reclaims the data once the last of them is done. Close is
// therefore safe to call while lookups are in flight. It always returns nil.
func (d *Databases) Close() error {
	d.closed.Store(true)
	return nil
}

// Lookup returns what the databases know about ip. It never fails: an
// invalid or unknown address, an address only some databases know, or a
// record a database cannot decode all yield whatever could be found, down
// to the zero Location. IPv4-mapped IPv6 addresses are looked up as IPv4.
// A lookup or record that a database cannot read is counted (see
// LookupErrors) and logged, at most once per LookupErrorLogInterval for
// each database, before it is treated as absent.
//
// Fields come from the City database first, then the Country database for
// whatever the City record left empty, and the ASN database overrides ASN
// fields stored in the City record. A missing continent is derived from the
// country, and missing coordinates are filled from the country centroid or,
// failing that, the continent centroid.
func (d *Databases) Lookup(ip netip.Addr) Location {
	loc, _ := d.lookupSpan(ip)
	return loc
}

// lookupSpan is Lookup, and the network around ip whose addresses all have
// the same Location: the most specific of the databases' networks for ip,
// found or not. An address a database places oddly (a network of the
// other family, or one not containing it, as an IPv4 lookup in an IPv6
// tree's ::/64 can yield) spans only itself.
func (d *Databases) lookupSpan(ip netip.Addr) (Location, netip.Prefix) {
	if d == nil || !ip.IsValid() || d.closed.Load() {
		return Location{}, netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	var loc Location
	span := netip.PrefixFrom(ip, 0).Masked()
	asked := false
	for i, db := range d.dbs {
		if db != nil {
			asked = true
			if p := db.lookup(ip, &loc, i, d.errs); p.Bits() > span.Bits() {
				span = p
			}
		}
	}
	fillFromTables(&loc)
	if asked {
		loc.Network = span
	}
	return loc, span
}

// LookupErrors returns how many lookups in the database of role r could
// not be read, since the Source (or, for Open, the set) was created. It
// counts lookups, not queries: an address whose location is cached is not
// looked up again.
func (d *Databases) LookupErrors(r Role) uint64 {
	if d == nil || d.errs == nil {
		return 0
	}
	return d.errs.count(r)
}

// lookup merges this database's record for ip into loc and returns the
// database's network for ip, found or not (ip alone when the database
// gives none that holds it). The database is at index i of roles; errs
// counts a lookup or record it cannot read, which is then treated as
// absent: the DNS path must answer, and verify caught damage it could see
// when the file was opened.
func (db *database) lookup(ip netip.Addr, loc *Location, i int, errs *lookupErrors) netip.Prefix {
	result := db.reader.Lookup(ip)
	if err := result.Err(); err != nil {
		errs.record(i, &db.info, netip.Prefix{}, err)
		return netip.PrefixFrom(ip, ip.BitLen())
	}
	network := result.Prefix()
	if !network.IsValid() || network.Addr().Is4() != ip.Is4() || !network.Contains(ip) {
		network = netip.PrefixFrom(ip, ip.BitLen())
	}
	if !result.Found() {
		return network
	}
	var rec record
	if err := result.Decode(&rec); err != nil {
		errs.record(i, &db.info, result.Prefix(), err)
		return network
	}
	if db.info.Role == RoleASN {
		if rec.asn != 0 || rec.asOrg != "" {
			loc.ASN, loc.ASOrg = rec.asn, rec.asOrg
		}
	} else {
		rec.mergeInto(loc)
	}
	return network
}

// record is the subset of the GeoIP2 City/Country/ASN record layout that a
// Location needs. It decodes itself straight from the MMDB data, reading
// only these fields and skipping everything else (localized names, postal
// codes, traits), which keeps a lookup to a few hundred nanoseconds.
type record struct {
	continent   string     // continent.code
	country     string     // country.iso_code
	subdivision string     // subdivisions[0].iso_code
	lat, lon    coordinate // location.latitude, location.longitude
	asn         uint32     // autonomous_system_number
	asOrg       string     // autonomous_system_organization
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler.
func (r *record) UnmarshalMaxMindDBCursor(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	entries, err := cur.Map()
	if err != nil {
		return mmdbdata.Cursor{}, mmdbdata.NormalizeUnmarshalError[map[string]any](err)
	}
	var next mmdbdata.Cursor
	for {
		key, value, ok := entries.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "continent":
			r.continent, next, err = readMapString(value, "code")
		case "country":
			r.country, next, err = readMapString(value, "iso_code")
		case "subdivisions":
			r.subdivision, next, err = readFirstSubdivision(value)
		case "location":
			next, err = r.readLocation(value)
		case "autonomous_system_number":
			var n uint64
			n, next, err = value.ReadUint()
			if err == nil && n > math.MaxUint32 {
				err = fmt.Errorf("autonomous_system_number %d out of range", n)
			}
			r.asn = uint32(n)
		case "autonomous_system_organization":
			r.asOrg, next, err = value.ReadString()
		default:
			next, err = value.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, fmt.Errorf("decoding %s: %w", key, err)
		}
	}
	return entries.End()
}

// readLocation reads latitude and longitude from the location map at cur.
func (r *record) readLocation(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	entries, err := cur.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, value, ok := entries.Next(next)
		if !ok {
			break
		}
		switch string(key) {
		case "latitude":
			r.lat.v, next, err = value.ReadFloat()
			r.lat.ok = err == nil
		case "longitude":
			r.lon.v, next, err = value.ReadFloat()
			r.lon.ok = err == nil
		default:
			next, err = value.Skip()
		}
		if err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return entries.End()
}

// readFirstSubdivision reads the iso_code of the first entry of the
// subdivisions array at cur; the array is ordered from largest to smallest
// subdivision.
func readFirstSubdivision(cur mmdbdata.Cursor) (string, mmdbdata.Cursor, error) {
	elems, err := cur.Slice()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var code string
	var next mmdbdata.Cursor
	for {
		i, elem, ok := elems.Next(next)
		if !ok {
			break
		}
		if i == 0 {
			code, next, err = readMapString(elem, "iso_code")
		} else {
			next, err = elem.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := elems.End()
	return code, end, err
}

// readMapString reads the string stored under key in the map at cur and
// returns the cursor after the map. A missing key yields "".
func readMapString(cur mmdbdata.Cursor, key string) (string, mmdbdata.Cursor, error) {
	entries, err := cur.Map()
	if err != nil {
		return "", mmdbdata.Cursor{}, err
	}
	var s string
	var next mmdbdata.Cursor
	for {
		k, value, ok := entries.Next(next)
		if !ok {
			break
		}
		if string(k) == key {
			s, next, err = value.ReadString()
		} else {
			next, err = value.Skip()
		}
		if err != nil {
			return "", mmdbdata.Cursor{}, err
		}
	}
	end, err := entries.End()
	return s, end, err
}

// coordinate is a latitude or longitude that remembers whether the record
// had it, so that 0° is told apart from "absent".
type coordinate struct {
	v  float64
	ok bool
}

// mergeInto fills the fields of loc that are still empty from the record.
func (r *record) mergeInto(loc *Location) {
	if loc.Country == "" && r.country != "" {
		loc.Country = code2(r.country)
	}
	if loc.Continent == "" && r.continent != "" {
		loc.Continent = code2(r.continent)
	}
	if loc.Subdivision == "" && r.subdivision != "" {
		sub := r.subdivision
		if !strings.Contains(sub, "-") && loc.Country != "" {
			sub = loc.Country + "-" + sub
		}
		loc.Subdivision = sub
	}
	if !loc.HasCoordinates && r.lat.ok && r.lon.ok {
		loc.Latitude, loc.Longitude = r.lat.v, r.lon.v
		loc.HasCoordinates = true
	}
	if loc.ASN == 0 && loc.ASOrg == "" && (r.asn != 0 || r.asOrg != "") {
		loc.ASN, loc.ASOrg = r.asn, r.asOrg
	}
}

// fillFromTables completes loc from the built-in country and continent
// tables.
func fillFromTables(loc *Location) {
	if loc.Continent == "" && loc.Country != "" {
		if c, ok := CountryContinent(loc.Country); ok {
			loc.Continent = c
		}
	}
	if loc.HasCoordinates {
		return
	}
	if lat, lon, ok := CountryCentroid(loc.Country); ok {
		loc.Latitude, loc.Longitude, loc.HasCoordinates = lat, lon, true
	} else if lat, lon, ok := ContinentCentroid(loc.Continent); ok {
		loc.Latitude, loc.Longitude, loc.HasCoordinates = lat, lon, true
	}
}
