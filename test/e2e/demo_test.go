package e2e

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestBuiltInDemoCleansUp runs `meridian serve` on the built-in demo and
// stops it: the copy of the demo it extracts to the temporary directory is
// there while it serves and gone once it exits.
func TestBuiltInDemoCleansUp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	p := startProcess(t, t.TempDir(), "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	if copies, _ := filepath.Glob(filepath.Join(tmp, "meridian-demo-*")); len(copies) != 1 {
		t.Errorf("while serving, the temporary directory holds %v; want one copy of the demo", copies)
	}
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("meridian still running 5s after SIGTERM\nlog:\n%s", p.log)
	}
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v\nlog:\n%s", p.err, p.log)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "meridian-demo-*")); len(left) != 0 {
		t.Errorf("the demo's copy is left behind: %v", left)
	}
}
