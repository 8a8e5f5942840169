package meridian_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/zones"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocExamplesLoad loads every YAML example of the README and docs/:
// zone files through the zone loader, the rest as main configuration. An
// example that would not load is a bug in the docs.
func TestDocExamplesLoad(t *testing.T) {
	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md")
	n := 0
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(src), -1) {
			body := m[1]
			n++
			dir := t.TempDir()
			if regexp.MustCompile(`(?m)^zone:`).MatchString(body) {
				if err := os.WriteFile(filepath.Join(dir, "zone.yaml"), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				if _, err := zones.Load(dir, nil); err != nil {
					t.Errorf("%s example %d (zone file) does not load: %v", doc, i+1, err)
				}
				continue
			}
			p := filepath.Join(dir, "meridian.yaml")
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := config.Load(p, nil); err != nil {
				t.Errorf("%s example %d (configuration) does not load: %v", doc, i+1, err)
			}
		}
	}
	if n < 2 {
		t.Fatalf("found only %d YAML examples", n)
	}
}
