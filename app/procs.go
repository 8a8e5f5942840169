package app

import (
	"runtime"
	"sync"
)

// Meridian's GOMAXPROCS policy. The base is the `gomaxprocs` setting, or
// when it is 0 the Go runtime's default, which follows the container's
// CPU limit (cgroup cpu.max) and the GOMAXPROCS environment variable.
// Each DNS server serves every UDP address with that many sockets, and on
// Linux each socket's reader sleeps in recvmmsg holding a P, so while
// servers run GOMAXPROCS is the base plus one per reader: the readers'
// Ps are extra, and everything else (TCP, health checks, the admin API,
// the garbage collector) keeps the base. When the last server stops,
// GOMAXPROCS goes back to the base (the runtime's default again when the
// setting is 0). The count is kept across the servers of one process.

var procs struct {
	sync.Mutex
	held    int
	base    int
	setting int
}

// baseProcs returns the base for setting: what GOMAXPROCS is without
// readers.
func baseProcs(setting int) int {
	procs.Lock()
	defer procs.Unlock()
	if procs.held > 0 {
		return procs.base
	}
	if setting > 0 {
		return setting
	}
	runtime.SetDefaultGOMAXPROCS()
	return runtime.GOMAXPROCS(0)
}

// holdProcs raises GOMAXPROCS by n for n readers about to start.
func holdProcs(setting, n int) {
	if n == 0 {
		return
	}
	procs.Lock()
	defer procs.Unlock()
	if procs.held == 0 {
		procs.setting = setting
		if setting > 0 {
			procs.base = setting
		} else {
			runtime.SetDefaultGOMAXPROCS()
			procs.base = runtime.GOMAXPROCS(0)
		}
	}
	procs.held += n
	runtime.GOMAXPROCS(procs.base + procs.held)
}

// releaseProcs gives back n readers' Ps.
func releaseProcs(n int) {
	if n == 0 {
		return
	}
	procs.Lock()
	defer procs.Unlock()
	procs.held -= n
	switch {
	case procs.held > 0:
		runtime.GOMAXPROCS(procs.base + procs.held)
	case procs.setting > 0:
		runtime.GOMAXPROCS(procs.base)
	default:
		runtime.SetDefaultGOMAXPROCS()
	}
}
