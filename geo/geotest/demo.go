package geotest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// DemoOptions are the build options of testdata/geoip/demo-city.mmdb. The
// fixed build time makes the committed file reproducible from demo.csv.
var DemoOptions = mmdbbuild.Options{
	DatabaseType: mmdbbuild.TypeCity,
	BuildTime:    BuildTime,
	Description:  "Meridian demo GeoIP database (testdata/geoip/demo.csv)",
}

// DemoDir returns the path of the repository's testdata/geoip directory,
// which holds demo.csv and demo-city.mmdb. It is found from this source
// file's location, so it works from any package's tests; when that location
// is unavailable (a -trimpath build) it falls back to testdata/geoip below
// the working directory.
func DemoDir() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "geoip")
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	return filepath.Join("testdata", "geoip")
}

// DemoCSV returns the path of testdata/geoip/demo.csv.
func DemoCSV() string { return filepath.Join(DemoDir(), "demo.csv") }

// DemoMMDB returns the path of the committed testdata/geoip/demo-city.mmdb,
// for tests that want realistic demo data (127.0.0.1 is in US-VA,
// 192.0.2.0/24 in US-CA, 198.51.100.0/24 in DE, 203.0.113.0/24 in SG; see
// demo.csv for the rest).
func DemoMMDB(t testing.TB) string {
	t.Helper()
	return filepath.Join(DemoDir(), "demo-city.mmdb")
}

// BuildDemo builds the demo database from demo.csv into out and returns how
// many networks it holds. It is what testdata/geoip/gen runs.
func BuildDemo(out string) (int, error) {
	return mmdbbuild.BuildFileOptions(mmdbbuild.FormatCSV, []string{DemoCSV()}, out, DemoOptions)
}
