package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckPaths reports the first path setting that names nothing: the zones
// directory, a GeoIP database, or the directory admin_state is written in
// (the file itself may be missing until the first drain). The error names
// the key, the path as given and where it resolved to. Relative paths are
// relative to the directory Meridian is started from, not to the
// configuration file; when the path exists beside the configuration file
// instead, the error says so.
func (c *Config) CheckPaths() error {
	type setting struct {
		key, path string
		dir       bool
	}
	settings := []setting{{"zones", c.Zones, true}}
	for _, g := range []setting{{"geoip.city", c.GeoIP.City, false}, {"geoip.country", c.GeoIP.Country, false}, {"geoip.asn", c.GeoIP.ASN, false}} {
		if g.path != "" {
			settings = append(settings, g)
		}
	}
	if c.Health.AdminState != "" {
		settings = append(settings, setting{"admin_state", c.Health.AdminState, false})
	}
	if e := c.Cluster.Etcd; c.Cluster.Enabled() {
		for _, f := range []setting{{"cluster.etcd.tls.ca", e.TLS.CA, false}, {"cluster.etcd.tls.cert", e.TLS.Cert, false},
			{"cluster.etcd.tls.key", e.TLS.Key, false}, {"cluster.etcd.password_file", e.PasswordFile, false}} {
			if f.path != "" {
				settings = append(settings, f)
			}
		}
	}
	for _, s := range settings {
		if err := c.checkPath(s.key, s.path, s.dir); err != nil {
			return fmt.Errorf("config: %s: %w", orDefault(c.File), err)
		}
	}
	return nil
}

// checkPath checks one path setting; see CheckPaths.
func (c *Config) checkPath(key, path string, dir bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("%s: %q: %w", key, path, err)
	}
	what := "file"
	if dir {
		what = "directory"
	}
	target := abs
	if key == "admin_state" {
		// The file is created by the first drain; its directory must be
		// there to be watched and written in.
		target, what, dir = filepath.Dir(abs), "directory of the file", true
	}
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir() == dir:
		return nil
	case err == nil && dir:
		return fmt.Errorf("%s: %q is not a directory (resolved to %s)", key, path, target)
	case err == nil:
		return fmt.Errorf("%s: %q is a directory, not a file (resolved to %s)", key, path, target)
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %q (resolved to %s): %w", key, path, target, err)
	}
	msg := fmt.Sprintf("%s: %s %q not found (resolved to %s)", key, what, path, target)
	if filepath.IsAbs(path) || c.File == "" {
		return errors.New(msg)
	}
	cwd, _ := os.Getwd()
	msg += fmt.Sprintf("; relative paths are relative to the directory meridian is started from (%s), not to the configuration file", cwd)
	cfgDir, err := filepath.Abs(filepath.Dir(c.File))
	if err != nil {
		return errors.New(msg)
	}
	beside := filepath.Join(cfgDir, path)
	if key == "admin_state" {
		beside = filepath.Dir(beside)
	}
	if beside != target {
		if _, err := os.Stat(beside); err == nil {
			msg += fmt.Sprintf(": %s exists; start meridian in %s or make the path absolute", beside, cfgDir)
		}
	}
	return errors.New(msg)
}
