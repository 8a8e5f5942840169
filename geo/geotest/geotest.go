// Package geotest writes small synthetic GeoIP databases for tests of the
// packages that depend on geo, so that no test relies on a database
// installed on the machine.
package geotest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/geo/mmdbbuild"
)

// BuildTime is the build time stored in databases written by this package,
// fixed so that the files are reproducible.
var BuildTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteMMDB writes entries as a GeoIP2-City database (which also carries the
// ASN fields) into t.TempDir() and returns its path. It fails the test on
// any error.
func WriteMMDB(t testing.TB, entries []mmdbbuild.Entry) string {
	t.Helper()
	return WriteMMDBType(t, entries, mmdbbuild.TypeCity)
}

// WriteMMDBType is WriteMMDB for a given database type, such as
// mmdbbuild.TypeCountry or mmdbbuild.TypeASN.
func WriteMMDBType(t testing.TB, entries []mmdbbuild.Entry, dbType string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("geotest: %v", err)
	}
	_, err = mmdbbuild.WriteOptions(f, entries, mmdbbuild.Options{DatabaseType: dbType, BuildTime: BuildTime})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("geotest: write %s: %v", path, err)
	}
	return path
}
