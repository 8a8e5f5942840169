package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/internal/etcdtest"
	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// TestRefusedRevisionRetried: a revision this instance could not apply
// (here: the first two tries fail, as with a disk that was full) is
// tried again after retryRefused and served once it applies; the
// refusal is logged and counted once while it repeats, reported in the
// status meanwhile, and gone from it once served.
func TestRefusedRevisionRetried(t *testing.T) {
	srv := etcdtest.Start(t)
	rev, err := NewRevision(map[string][]byte{"example.com.yaml": []byte("origin: example.com.\n")}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	res, err := Publish(ctx, srv.Client(), "/f/", rev)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	tries := 0
	var log syncbuf.Buffer
	f, err := NewFollower(FollowerOptions{
		Connection: Connection{Endpoints: []string{srv.Endpoint()}, Prefix: "/f/"},
		Instance:   "a",
		LeaseTTL:   testTTL,
		Follow:     true,
		FileBytes:  1 << 20,
		Dir:        t.TempDir(),
		Apply: func(string) error {
			mu.Lock()
			defer mu.Unlock()
			tries++
			if tries <= 2 {
				return errors.New("writing the zones: no space left on device")
			}
			return nil
		},
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.retryRefused = 300 * time.Millisecond
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(runCtx)
	}()
	defer func() { stop(); <-done }()

	waitFor(t, "the refusal in the status", func() bool {
		r := f.Status().Rejected
		return r != nil && r.Revision == res.ID
	})
	if served, _ := f.Revision(); served != 0 {
		t.Fatalf("serving revision %d after a refusal", served)
	}
	waitFor(t, "the revision served on a later try", func() bool {
		served, _ := f.Revision()
		return served == res.ID
	})
	if r := f.Status().Rejected; r != nil {
		t.Errorf("still reported refused once served: %+v", r)
	}
	mu.Lock()
	n := tries
	mu.Unlock()
	if n != 3 {
		t.Errorf("applied %d times, want 3 (two refusals, then served)", n)
	}
	if _, refused := f.Revision(); refused != 1 {
		t.Errorf("%d refusals counted, want 1 for one cause repeated", refused)
	}
	if c := strings.Count(log.String(), "refusing a published zone revision"); c != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", c, log.String())
	}
}
