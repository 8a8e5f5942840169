package healthcheck

import (
	"os"
	"strings"
	"testing"
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
	if len(blocks) != 1 {
		t.Fatalf("found %d YAML examples in doc.go, want 1", len(blocks))
	}
	if _, err := ParseOverrides([]byte(blocks[0]), "doc.go"); err != nil {
		t.Errorf("admin_state example: %v", err)
	}
}
