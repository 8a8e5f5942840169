package geo

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// LookupErrorLogInterval is the least time between two log lines about
// failed lookups in one database; the lines in between are counted, not
// written, and the next line says how many were suppressed.
const LookupErrorLogInterval = 10 * time.Second

// lookupErrors counts and logs, per role, the lookups whose record a
// database could not read. The query must still be answered, so such a
// record is treated as absent, but never silently: every one is counted
// and the first of each interval is logged. A Source shares one
// lookupErrors among all the sets of databases it opens, so the counts
// survive reloads and can be exported as counters.
type lookupErrors struct {
	logger *slog.Logger
	// now returns the current time in Unix nanoseconds; tests replace it.
	now   func() int64
	roles [len(roles)]roleErrors
}

// roleErrors is the state of one role. Counting is one atomic add; the
// log decision is one load and, at most once per interval, one
// compare-and-swap, so a database failing on every lookup costs queries
// no lock and no log line each.
type roleErrors struct {
	count atomic.Uint64
	// nextLog is the Unix time in nanoseconds from which a line may be
	// logged again.
	nextLog atomic.Int64
	// logged is the value of count when the last line was logged.
	logged atomic.Uint64
}

// newLookupErrors returns counters that log to logger.
func newLookupErrors(logger *slog.Logger) *lookupErrors {
	return &lookupErrors{logger: logger, now: func() int64 { return time.Now().UnixNano() }}
}

// record counts a failed lookup in the database at index i of roles and
// logs it unless a line about that database was logged less than
// LookupErrorLogInterval ago. network is the database network the lookup
// reached, when known.
func (e *lookupErrors) record(i int, info *DatabaseInfo, network netip.Prefix, err error) {
	if e == nil {
		return
	}
	r := &e.roles[i]
	n := r.count.Add(1)
	now := e.now()
	next := r.nextLog.Load()
	if now < next || !r.nextLog.CompareAndSwap(next, now+int64(LookupErrorLogInterval)) {
		return
	}
	var suppressed uint64
	if prev := r.logged.Swap(n); n > prev+1 {
		suppressed = n - prev - 1
	}
	attrs := []any{"database", string(info.Role), "file", info.Path}
	if network.IsValid() {
		attrs = append(attrs, "network", network.String())
	}
	attrs = append(attrs, "error", err, "suppressed", suppressed)
	e.logger.Error("geoip lookup failed; the record is treated as absent", attrs...)
}

// count returns how many lookups in the database of role r have failed.
func (e *lookupErrors) count(r Role) uint64 {
	if i := roleIndex(r); i >= 0 {
		return e.roles[i].count.Load()
	}
	return 0
}
