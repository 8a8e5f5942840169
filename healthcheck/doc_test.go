package healthcheck

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocExamples loads every YAML example in the package documentation.
func TestDocExamples(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur strings.Builder
	for _, line := range strings.Split(string(src), "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			cur.WriteString(code + "\n")
			continue
		}
		if cur.Len() > 0 {
			blocks = append(blocks, cur.String())
			cur.Reset()
		}
	}
	if len(blocks) != 2 {
		t.Fatalf("found %d YAML examples in doc.go, want 2", len(blocks))
	}
	for _, block := range blocks {
		if !strings.HasPrefix(block, "checks:") {
			if _, err := ParseOverrides([]byte(block), "doc.go"); err != nil {
				t.Errorf("admin_state example: %v", err)
			}
			continue
		}
		var zone struct {
			Checks map[string]yaml.Node `yaml:"checks"`
		}
		if err := yaml.Unmarshal([]byte(block), &zone); err != nil {
			t.Fatalf("checks example: %v", err)
		}
		for name, node := range zone.Checks {
			if _, err := DecodeSpec(&node); err != nil {
				t.Errorf("checks example %q: %v", name, err)
			}
		}
		if len(zone.Checks) != 3 {
			t.Errorf("checks example has %d checks, want 3", len(zone.Checks))
		}
	}
}
