// Package meridian holds what the whole repository shares: the built-in demo
// configuration that `meridian serve` uses when given none.
package meridian

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// demo is the demo configuration, zones and GeoIP database of testdata/.
//
//go:embed testdata/demo testdata/geoip/demo-city.mmdb
var demo embed.FS

// DemoConfig is the path of the demo configuration inside the extracted tree.
const DemoConfig = "testdata/demo/meridian.yaml"

// ExtractDemo writes the built-in demo tree into dir, keeping its layout, so
// that the demo is served like any configuration (and can be edited to
// watch reloads happen).
func ExtractDemo(dir string) error {
	return fs.WalkDir(demo, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, path)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := demo.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
