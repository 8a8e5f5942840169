package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// statusEvery is how often a Follower compares its status with the one it
// published; it writes only when they differ.
const statusEvery = 250 * time.Millisecond

// retryRefused is how long a follower waits before it tries a refused
// revision again: what made it fail may be on this instance (a disk that
// was full, a DNSSEC key file not installed yet) and fixed since.
const retryRefused = time.Minute

// FollowerOptions configures a Follower.
type FollowerOptions struct {
	// Connection is how to reach etcd.
	Connection Connection
	// Instance is this instance's name (cluster.instance).
	Instance string
	// LeaseTTL is the lease of the status value, as a Member's.
	LeaseTTL time.Duration
	// Follow has the follower serve the published zones
	// (cluster.zones_from: cluster); without it, it only reports status.
	Follow bool
	// FileBytes bounds each published file (limits.zone_file_bytes).
	FileBytes int64
	// Dir is where a private directory for the revisions is made
	// (default os.TempDir()).
	Dir string
	// Apply builds the zones in dir, validates them and swaps them in,
	// or returns why not, keeping the zones being served
	// (zones.Store.ReloadFrom).
	Apply func(dir string) error
	// Status returns the instance's serials, its consensus's contact with
	// etcd and its disagreements; the follower fills in the rest.
	Status func() Status
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Follower follows the fleet's published zones, when the instance serves
// them, and publishes the instance's Status under status/<instance> on a
// lease, on change only. Its methods may be called from any goroutine.
type Follower struct {
	opts FollowerOptions
	log  *slog.Logger
	ttl  time.Duration
	cli  atomic.Pointer[clientv3.Client]
	kick chan struct{}

	rejectedTotal atomic.Uint64

	mu        sync.Mutex
	served    uint64 // the revision being served
	servedDir string
	rejected  *Rejection // the current revision, when it was refused
	// current is the last value of zones/current seen; revision retryID,
	// refused or not read, is tried again from retryAt.
	current []byte
	retryID uint64
	retryAt time.Time
	// retryRefused is retryRefused, shorter in tests.
	retryRefused time.Duration
	parent       string // the private directory of revisions
}

// NewFollower returns a follower that has not contacted etcd yet.
func NewFollower(opts FollowerOptions) (*Follower, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Connection.Endpoints) == 0 {
		return nil, errors.New("cluster: no etcd endpoints")
	}
	if opts.Follow && opts.Apply == nil {
		return nil, errors.New("cluster: following published zones needs Apply")
	}
	if opts.Status == nil {
		opts.Status = func() Status { return Status{} }
	}
	if opts.FileBytes <= 0 {
		return nil, errors.New("cluster: no limit on published files")
	}
	return &Follower{
		opts: opts,
		log:  opts.Logger.With("instance", opts.Instance),
		ttl:  max(opts.LeaseTTL, time.Second).Round(time.Second),
		kick: make(chan struct{}, 1),

		retryRefused: retryRefused,
	}, nil
}

// Revision returns the published revision being served (0: none) and the
// count of revisions refused.
func (f *Follower) Revision() (served uint64, rejected uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served, f.rejectedTotal.Load()
}

// Status returns the status this instance publishes.
func (f *Follower) Status() Status {
	s := f.opts.Status()
	s.ZonesFrom = "files"
	if f.opts.Follow {
		s.ZonesFrom = "cluster"
	}
	f.mu.Lock()
	s.Revision = f.served
	if f.rejected != nil {
		r := *f.rejected
		s.Rejected = &r
	}
	f.mu.Unlock()
	return s
}

// Fleet reads the fleet from etcd (ReadFleet), once Run has begun.
func (f *Follower) Fleet(ctx context.Context) (Fleet, error) {
	cli := f.cli.Load()
	if cli == nil {
		return Fleet{}, errors.New("cluster: not started")
	}
	return ReadFleet(ctx, cli, f.opts.Connection.Prefix)
}

// Run follows and reports until ctx ends; it returns nil then, having
// withdrawn the status value when etcd still answers. With etcd
// unreachable it retries while the instance serves what it has.
func (f *Follower) Run(ctx context.Context) error {
	if f.opts.Follow {
		parent, err := os.MkdirTemp(f.opts.Dir, "meridian-zones-")
		if err != nil {
			return fmt.Errorf("cluster: a directory for published zones: %w", err)
		}
		defer os.RemoveAll(parent)
		f.mu.Lock()
		f.parent = parent
		f.mu.Unlock()
	}
	cli, err := Dial(f.opts.Connection)
	if err != nil {
		return err
	}
	defer cli.Close()
	f.cli.Store(cli)
	var lease clientv3.LeaseID
	var r retry
	for ctx.Err() == nil {
		began := time.Now()
		err := f.session(ctx, cli, &lease)
		if !r.after(ctx, began, f.ttl, err, f.log, "etcd session of zone publishing and status ended; serving what this instance has") {
			break
		}
	}
	if lease != 0 {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cli.Revoke(rctx, lease)
		cancel()
	}
	return nil
}

func (f *Follower) opTimeout() time.Duration { return min(max(f.ttl/3, time.Second), 5*time.Second) }

// session is one stretch of contact with etcd: take a lease, publish the
// status on it, serve the current revision, then follow zones/current and
// publish the status when it changes, until something fails.
func (f *Follower) session(ctx context.Context, cli *clientv3.Client, lease *clientv3.LeaseID) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prefix := f.opts.Connection.Prefix
	statusKey := prefix + statusDir + f.opts.Instance
	if *lease == 0 {
		rctx, done := context.WithTimeout(ctx, f.opTimeout())
		g, err := cli.Grant(rctx, int64(f.ttl/time.Second))
		done()
		if err != nil {
			return fmt.Errorf("granting a lease: %w", err)
		}
		*lease = g.ID
	}
	ka, err := cli.KeepAlive(ctx, *lease)
	if err != nil {
		*lease = 0
		return fmt.Errorf("keeping the lease alive: %w", err)
	}
	var watch clientv3.WatchChan
	if f.opts.Follow {
		rctx, done := context.WithTimeout(ctx, f.opTimeout())
		resp, err := cli.Get(rctx, prefix+zonesCurrentKey)
		done()
		if err != nil {
			return fmt.Errorf("reading %s: %w", zonesCurrentKey, err)
		}
		if len(resp.Kvs) > 0 {
			f.follow(ctx, cli, resp.Kvs[0].Value)
		}
		watch = cli.Watch(clientv3.WithRequireLeader(ctx), prefix+zonesCurrentKey, clientv3.WithRev(resp.Header.Revision+1))
	}
	var published []byte
	tick := time.NewTicker(statusEvery)
	defer tick.Stop()
	for {
		if b := f.Status().Marshal(); !bytes.Equal(b, published) {
			rctx, done := context.WithTimeout(ctx, f.opTimeout())
			_, err := cli.Put(rctx, statusKey, string(b), clientv3.WithLease(*lease))
			done()
			if err != nil {
				if rpcLeaseGone(err) {
					*lease = 0
				}
				return fmt.Errorf("publishing the status: %w", err)
			}
			published = b
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r, ok := <-ka:
			if !ok || r == nil {
				*lease = 0
				return errLeaseLost
			}
		case wr, ok := <-watch:
			if !ok {
				return errors.New("watch ended")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					f.follow(ctx, cli, ev.Kv.Value)
				}
			}
		case <-tick.C:
			if f.opts.Follow {
				f.mu.Lock()
				current := f.current
				f.mu.Unlock()
				if current != nil {
					f.follow(ctx, cli, current)
				}
			}
		case <-f.kick:
		}
	}
}

// rpcLeaseGone reports an error of a lease that etcd no longer has.
func rpcLeaseGone(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("requested lease not found"))
}

// follow serves the revision named by a value of zones/current, unless it
// is served already, or was refused less than retryRefused ago: read and
// check it, materialise it in a directory of its own, and have Apply
// build, validate and swap it in. On any error the instance keeps its
// zones, and the refusal is logged and counted once (while it repeats)
// and reported in the status. An etcd that does not answer the read
// refuses nothing: the next tick tries again.
func (f *Follower) follow(ctx context.Context, cli *clientv3.Client, current []byte) {
	id, err := parseRevisionID(string(current))
	now := time.Now()
	f.mu.Lock()
	f.current = current
	skip := err == nil && (id == f.served || (id == f.retryID && now.Before(f.retryAt)))
	parent := f.parent
	f.mu.Unlock()
	if skip {
		return
	}
	if err != nil {
		f.reject(0, fmt.Errorf("%s: %w", zonesCurrentKey, err))
		return
	}
	rctx, done := context.WithTimeout(ctx, 4*f.opTimeout())
	rev, err := ReadRevision(rctx, cli, f.opts.Connection.Prefix, id, f.opts.FileBytes)
	done()
	if errors.Is(err, ErrUnreachable) {
		f.mu.Lock()
		f.retryID, f.retryAt = id, now.Add(f.ttl)
		f.mu.Unlock()
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			f.reject(id, err)
		}
		return
	}
	dir, err := rev.Materialise(parent)
	if err != nil {
		f.reject(id, fmt.Errorf("revision %d: writing its files: %w", id, err))
		return
	}
	if err := f.opts.Apply(dir); err != nil {
		os.RemoveAll(dir)
		f.reject(id, fmt.Errorf("revision %d: %w", id, err))
		return
	}
	f.mu.Lock()
	old := f.servedDir
	f.served, f.servedDir, f.rejected = id, dir, nil
	f.mu.Unlock()
	if old != "" {
		os.RemoveAll(old)
	}
	f.log.Info("serving published zones", "revision", id, "published", rev.Manifest.Published, "by", rev.Manifest.By,
		"files", len(rev.Files))
	f.Kick()
}

// reject records that revision id (0: zones/current itself was malformed)
// is not served.
func (f *Follower) reject(id uint64, err error) {
	r := &Rejection{Revision: id, Error: clipText(err.Error(), maxRejectionText)}
	f.mu.Lock()
	again := f.rejected != nil && *f.rejected == *r
	f.rejected = r
	f.retryID, f.retryAt = id, time.Now().Add(f.retryRefused)
	served := f.served
	f.mu.Unlock()
	if again {
		return
	}
	f.rejectedTotal.Add(1)
	f.log.Error("refusing a published zone revision; still serving the previous zones", "revision", id,
		"serving", served, "error", err)
	f.Kick()
}

// Kick has the follower compare its status with the published one now.
func (f *Follower) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}
