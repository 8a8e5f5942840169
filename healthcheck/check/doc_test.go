package check

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocExample decodes the checks of the package documentation's example.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	for _, line := range strings.Split(string(src), "\n") {
		if code, ok := strings.CutPrefix(line, "//\t"); ok {
			block.WriteString(code + "\n")
		}
	}
	var zone struct {
		Checks map[string]yaml.Node `yaml:"checks"`
	}
	if err := yaml.Unmarshal([]byte(block.String()), &zone); err != nil {
		t.Fatalf("checks example: %v", err)
	}
	for name, node := range zone.Checks {
		if _, err := Decode(&node); err != nil {
			t.Errorf("checks example %q: %v", name, err)
		}
	}
	if len(zone.Checks) != 3 {
		t.Errorf("checks example has %d checks, want 3", len(zone.Checks))
	}
}
