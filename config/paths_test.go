package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPathsNamesKeyAndResolvedPath holds a path that names nothing to
// an error with its key and where it resolved to, and the hint when the
// path exists beside the configuration file instead.
func TestCheckPathsNamesKeyAndResolvedPath(t *testing.T) {
	elsewhere := t.TempDir()
	if err := os.MkdirAll(filepath.Join(elsewhere, "zones"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "city.mmdb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(elsewhere, "meridian.yaml")
	if err := os.WriteFile(cfgPath, []byte("zones: zones\ngeoip:\n  city: city.mmdb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	here := t.TempDir()
	t.Chdir(here)
	c, err := Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckPaths()
	want := `config: ` + cfgPath + `: zones: directory "zones" not found (resolved to ` + filepath.Join(here, "zones") + `); relative paths are relative to the directory meridian is started from (` + here + `), not to the configuration file: ` + filepath.Join(elsewhere, "zones") + ` exists; start meridian in ` + elsewhere + ` or make the path absolute`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}

	t.Chdir(elsewhere)
	if err := c.CheckPaths(); err != nil {
		t.Errorf("started beside the configuration: %v", err)
	}

	c.GeoIP.City = filepath.Join(here, "nope.mmdb")
	if err := c.CheckPaths(); err == nil || !strings.Contains(err.Error(), `geoip.city: file "`+c.GeoIP.City+`" not found`) {
		t.Errorf("missing absolute GeoIP path: %v", err)
	}
	c.GeoIP.City = ""
	c.Zones = "city.mmdb"
	if err := c.CheckPaths(); err == nil || !strings.Contains(err.Error(), `zones: "city.mmdb" is not a directory`) {
		t.Errorf("zones naming a file: %v", err)
	}
	c.Zones = "zones"
	c.Health.AdminState = "state/admin.yaml"
	if err := c.CheckPaths(); err == nil || !strings.Contains(err.Error(), `admin_state: directory of the file "state/admin.yaml" not found`) {
		t.Errorf("admin_state in a missing directory: %v", err)
	}
	c.Health.AdminState = "admin.yaml"
	if err := c.CheckPaths(); err != nil {
		t.Errorf("admin_state not written yet: %v", err)
	}
}
