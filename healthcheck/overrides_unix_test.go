//go:build unix

package healthcheck

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOverridesFileNotRegular: an admin_state path naming a FIFO or a
// device fails at once instead of waiting for a writer or reading without
// end.
func TestOverridesFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "admin_state.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		if _, err := LoadOverrides(p); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadOverrides(%s): %v", p, err)
		}
	}
}
