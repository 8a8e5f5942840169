package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// TestRetry: the wait doubles after sessions that end soon, starts again
// from retryMin after a steady one, an error is logged once while it
// repeats, and a cancelled context stops the loop without waiting.
func TestRetry(t *testing.T) {
	var buf syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var r retry
	err := errors.New("connection refused")
	for i, want := range []time.Duration{2 * retryMin, 4 * retryMin} {
		if !r.after(context.Background(), time.Now(), time.Hour, err, log, "session ended") {
			t.Fatal("after stopped with a live context")
		}
		if r.wait != want {
			t.Errorf("after %d failed sessions the next wait is %v, want %v", i+1, r.wait, want)
		}
	}
	if n := strings.Count(buf.String(), "session ended"); n != 1 {
		t.Errorf("a repeated error was logged %d times, want once", n)
	}
	if !r.after(context.Background(), time.Now().Add(-2*time.Hour), time.Hour, err, log, "session ended") || r.wait != 2*retryMin {
		t.Errorf("after a steady session the wait is %v, want %v", r.wait, 2*retryMin)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r.after(ctx, time.Now(), time.Hour, err, log, "session ended") {
		t.Error("after went on with a cancelled context")
	}
}
