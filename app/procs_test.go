package app

import (
	"runtime"
	"testing"
)

// TestProcs: while servers run, GOMAXPROCS is the base (the setting, or
// the runtime's default, which follows a container's CPU limit) plus one
// per UDP reader, counted across the servers of the process; when the last
// stops it is the base again.
func TestProcs(t *testing.T) {
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	// Another part of the program changed GOMAXPROCS: the policy starts
	// from the runtime's default, not from that.
	runtime.GOMAXPROCS(def + 7)
	if got := baseProcs(0); got != def {
		t.Errorf("base with the default setting = %d, want the runtime's default %d", got, def)
	}
	holdProcs(0, 2)
	if got := runtime.GOMAXPROCS(0); got != def+2 {
		t.Errorf("one server with 2 readers: GOMAXPROCS %d, want %d", got, def+2)
	}
	if got := baseProcs(0); got != def {
		t.Errorf("base while readers hold Ps = %d, want %d", got, def)
	}
	holdProcs(0, 3) // a second server in the same process
	if got := runtime.GOMAXPROCS(0); got != def+5 {
		t.Errorf("two servers: GOMAXPROCS %d, want %d", got, def+5)
	}
	releaseProcs(2)
	releaseProcs(3)
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Errorf("after the last server: GOMAXPROCS %d, want the default %d", got, def)
	}

	if got := baseProcs(3); got != 3 {
		t.Errorf("base with gomaxprocs: 3 = %d", got)
	}
	holdProcs(3, 2)
	if got := runtime.GOMAXPROCS(0); got != 5 {
		t.Errorf("gomaxprocs: 3 and 2 readers: GOMAXPROCS %d, want 5", got)
	}
	releaseProcs(2)
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("gomaxprocs: 3 after the server: GOMAXPROCS %d, want 3", got)
	}
	holdProcs(0, 0) // a server without blocking readers changes nothing
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("no readers: GOMAXPROCS %d, want 3", got)
	}
}
