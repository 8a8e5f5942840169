//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestConfigFileNotRegular: --config naming a FIFO or a device fails at
// once instead of waiting for a writer or reading without end.
func TestConfigFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "meridian.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/zero"} {
		if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Load(%s): %v", p, err)
		}
	}
}
