package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// retry paces the sessions a loop keeps with etcd: after a session ends it
// logs the error once per distinct message and waits before the next,
// twice as long each time up to retryMax, and from retryMin again after a
// session that lasted longer than steady. Each wait is drawn between half
// and all of that, so that a fleet that lost etcd together does not come
// back in step.
type retry struct {
	wait    time.Duration
	lastMsg string
}

// after is called when a session that began at began ended with err. It
// reports false when ctx ended meanwhile and the loop should stop.
func (r *retry) after(ctx context.Context, began time.Time, steady time.Duration, err error, log *slog.Logger, msg string) bool {
	if ctx.Err() != nil {
		return false
	}
	if s := fmt.Sprint(err); s != r.lastMsg {
		log.Warn(msg, "error", s)
		r.lastMsg = s
	}
	if r.wait == 0 || time.Since(began) > steady {
		r.wait = retryMin
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(r.wait/2 + rand.N(r.wait/2+1)):
	}
	r.wait = min(2*r.wait, retryMax)
	return true
}
