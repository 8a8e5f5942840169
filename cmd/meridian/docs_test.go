package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readDoc reads a file of the repository.
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadmeListsEveryCommand holds the README's Commands section to
// naming every command the binary has.
func TestReadmeListsEveryCommand(t *testing.T) {
	readme := readDoc(t, "README.md")
	start := strings.Index(readme, "\n## Commands\n")
	if start < 0 {
		t.Fatal("README has no Commands section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() && c.HasParent() {
			path := strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
			if !strings.Contains(section, "`meridian "+path) {
				t.Errorf("the README's Commands section does not list `meridian %s`", path)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root())
}

// TestGeoIPBuildDocsAgree holds the README, the operations guide, the
// systemd unit and --help to one story: the default type is GeoIP2-City,
// loaded as geoip.city; Tor's country files are built as GeoIP2-Country
// and loaded as geoip.country.
func TestGeoIPBuildDocsAgree(t *testing.T) {
	invocation := regexp.MustCompile("meridian geoip build[^`\n]*(?:\\\\?\n[^`\n]*)*")
	torFormat := regexp.MustCompile(`--format tor(\s|$)`)
	for _, doc := range []string{"README.md", "docs/operations.md", "deploy/systemd/meridian-geoip-tor.service"} {
		text := readDoc(t, doc)
		n := 0
		for _, m := range invocation.FindAllString(text, -1) {
			if !torFormat.MatchString(m) {
				continue
			}
			n++
			if !strings.Contains(m, "--type GeoIP2-Country") {
				t.Errorf("%s: %q builds Tor's countries without --type GeoIP2-Country", doc, m)
			}
		}
		if n == 0 {
			t.Errorf("%s: no geoip build of Tor's files found", doc)
		}
		if !strings.Contains(text, "geoip.country") && !strings.Contains(text, "geoip: {country:") {
			t.Errorf("%s: does not say to load Tor's database as geoip.country", doc)
		}
	}
	readme := readDoc(t, "README.md")
	if !strings.Contains(readme, "`--type GeoIP2-City`") || !strings.Contains(readme, "`geoip.city`") {
		t.Errorf("README does not say the default type and where to load it")
	}
	build, _, err := root().Find([]string{"geoip", "build"})
	if err != nil {
		t.Fatal(err)
	}
	if f := build.Flags().Lookup("type"); f == nil || f.DefValue != "GeoIP2-City" {
		t.Errorf("--type default %v, want GeoIP2-City", f)
	}
	for _, want := range []string{"GeoIP2-City     (the default)", "Load it as\n                  geoip.city", "GeoIP2-Country  country and continent only. Load it as geoip.country", "--type GeoIP2-Country"} {
		if !strings.Contains(build.Long, want) {
			t.Errorf("geoip build --help lacks %q:\n%s", want, build.Long)
		}
	}
}
