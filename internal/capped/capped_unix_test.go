//go:build unix

package capped

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReadFileRefusesSpecialFiles would block forever on the FIFO (no
// writer) and read without end from /dev/zero if either were read.
func TestReadFileRefusesSpecialFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		if _, err := ReadFile(path, 1<<20); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFile(%s): %v; want ErrNotRegular", path, err)
		}
	}
}
