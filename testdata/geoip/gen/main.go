// Command gen regenerates testdata/geoip/demo-city.mmdb from
// testdata/geoip/demo.csv:
//
//	go run ./testdata/geoip/gen
//
// The output is reproducible: the same CSV always gives the same bytes, and
// a test in package geo fails when the committed database is out of date.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/meridian-dns/meridian/geo/geotest"
)

func main() {
	out := flag.String("out", filepath.Join(geotest.DemoDir(), "demo-city.mmdb"), "MMDB file to write")
	flag.Parse()
	n, err := geotest.BuildDemo(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s: %d networks\n", *out, n)
}
