package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/healthcheck"
)

// The fleet's operator state under the prefix (docs/fleet.md):
//
//	admin/endpoints/<service.>/<address> = {"state": "up"|"down"|"drain"}
//	admin/regions/<zone.>/<region>       = {"state": "up"|"down"|"drain"}
//	admin/weights/<service.>/<address>   = {"weight": 0..1000000}
//	changes/<20-digit Unix nanoseconds>-<instance> = healthcheck.Change
//
// Names in keys are canonical (healthcheck.EndpointKey, RegionKey): lower
// case, with the final dot, the address in its shortest form. Clearing an
// override deletes its key.
const (
	adminDir        = "admin/"
	adminEndpoints  = adminDir + "endpoints/"
	adminRegions    = adminDir + "regions/"
	adminWeights    = adminDir + "weights/"
	changesDir      = "changes/"
	maxAdminEntries = 100_000
	// applyWait bounds how long Apply waits for its own change to come
	// back through the watch, so that the answer it gives is in force here.
	applyWait = time.Second
	// casAttempts bounds the retries of a change that raced another.
	casAttempts = 5
)

// OperatorOptions configures an Operator.
type OperatorOptions struct {
	Connection Connection
	// Instance is this member's name, recorded with the changes it makes.
	Instance string
	// Keep is how many changes the fleet keeps under changes/;
	// healthcheck.DefaultChangesKept when 0.
	Keep int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// OnChange receives the fleet's complete operator state whenever it
	// changes; it is called from Run's goroutine.
	OnChange func(*healthcheck.Overrides)
}

// Operator keeps the fleet's drains, undrains and runtime weights in etcd,
// with the record of who changed what, and follows them: every instance
// applies a change made through any instance's admin API within a moment
// of it being written. It implements admin.OperatorState.
type Operator struct {
	opts   OperatorOptions
	log    *slog.Logger
	prefix string

	// cliMu guards cli, the etcd client while Run runs; started is
	// closed when Run has made it.
	cliMu   sync.Mutex
	cli     *clientv3.Client
	started chan struct{}

	malformed atomic.Uint64

	mu sync.Mutex
	// entries are the valid admin/ keys read, by key without the prefix.
	entries map[string]adminEntry
	current *healthcheck.Overrides
	// rev is the etcd revision entries reflect; applied is closed and
	// replaced whenever it moves.
	rev       int64
	applied   chan struct{}
	badLogged time.Time
	badQuiet  int
}

// adminEntry is one parsed admin/ key.
type adminEntry struct {
	edit healthcheck.Edit
}

// NewOperator returns an Operator. It does not contact etcd: Run does,
// and Apply and Changes work while Run runs.
func NewOperator(opts OperatorOptions) (*Operator, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Keep <= 0 {
		opts.Keep = healthcheck.DefaultChangesKept
	}
	c := opts.Connection
	if len(c.Endpoints) == 0 {
		return nil, errors.New("cluster: no etcd endpoints")
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		return nil, fmt.Errorf("cluster: prefix %q does not end in /", c.Prefix)
	}
	return &Operator{
		opts:    opts,
		log:     opts.Logger.With("instance", opts.Instance),
		prefix:  c.Prefix,
		started: make(chan struct{}),
		entries: map[string]adminEntry{},
		current: healthcheck.NewOverrides(),
		applied: make(chan struct{}),
	}, nil
}

// Overrides returns the fleet's operator state as last read.
func (o *Operator) Overrides() *healthcheck.Overrides {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}

// Malformed counts the values read from etcd that were ignored.
func (o *Operator) Malformed() uint64 { return o.malformed.Load() }

// errNotRunning answers Apply and Changes outside Run.
var errNotRunning = errors.New("not following the fleet's etcd")

// client returns the etcd client while Run runs, waiting for Run to make
// it as long as ctx allows.
func (o *Operator) client(ctx context.Context) (*clientv3.Client, error) {
	select {
	case <-o.started:
	case <-ctx.Done():
		return nil, errNotRunning
	}
	o.cliMu.Lock()
	defer o.cliMu.Unlock()
	if o.cli == nil {
		return nil, errNotRunning
	}
	return o.cli, nil
}

// Run follows the fleet's operator state until ctx ends, reconnecting
// when etcd goes away; meanwhile the last state read stays in force. It
// returns an error only when it cannot make an etcd client at all.
func (o *Operator) Run(ctx context.Context) error {
	cli, err := o.opts.Connection.client(2*time.Second, 0)
	if err != nil {
		return err
	}
	o.cliMu.Lock()
	o.cli = cli
	o.cliMu.Unlock()
	close(o.started)
	defer func() {
		o.cliMu.Lock()
		o.cli = nil
		o.cliMu.Unlock()
		cli.Close()
	}()
	var r retry
	for ctx.Err() == nil {
		began := time.Now()
		err := o.follow(ctx, cli)
		if !r.after(ctx, began, 10*time.Second, err, o.log, "lost the fleet's operator state in etcd; keeping the last read") {
			break
		}
	}
	return nil
}

// follow reads admin/ whole, then applies its changes as they come.
func (o *Operator) follow(ctx context.Context, cli *clientv3.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rctx, done := context.WithTimeout(ctx, 2*time.Second)
	resp, err := cli.Get(rctx, o.prefix+adminDir, clientv3.WithPrefix())
	done()
	if err != nil {
		return fmt.Errorf("reading %s%s: %w", o.prefix, adminDir, err)
	}
	o.load(resp.Kvs, resp.Header.Revision)
	watch := cli.Watch(clientv3.WithRequireLeader(ctx), o.prefix+adminDir, clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-watch:
			if !ok {
				return errors.New("watch ended")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			o.apply(wr.Events, wr.Header.Revision)
		}
	}
}

// load replaces the entries with a read of admin/ and publishes them.
func (o *Operator) load(kvs []*mvccpb.KeyValue, rev int64) {
	o.mu.Lock()
	clear(o.entries)
	for _, kv := range kvs {
		o.putLocked(string(kv.Key), kv.Value)
	}
	o.publishAndUnlock(rev)
}

// apply applies one watch response whole and publishes the result: a
// batch is never half applied.
func (o *Operator) apply(events []*clientv3.Event, rev int64) {
	o.mu.Lock()
	for _, ev := range events {
		key := string(ev.Kv.Key)
		if ev.Type == clientv3.EventTypeDelete {
			delete(o.entries, strings.TrimPrefix(key, o.prefix))
			continue
		}
		o.putLocked(key, ev.Kv.Value)
	}
	o.publishAndUnlock(rev)
}

// publishAndUnlock, called with o.mu held, builds the overrides from the
// entries, records rev, unlocks o.mu and hands the overrides to OnChange.
func (o *Operator) publishAndUnlock(rev int64) {
	next := healthcheck.NewOverrides()
	for _, e := range o.entries {
		// Entries were validated when read: Apply does not fail on them.
		if n, err := next.Apply(e.edit); err == nil {
			next = n
		}
	}
	o.current = next
	if rev > o.rev {
		o.rev = rev
	}
	close(o.applied)
	o.applied = make(chan struct{})
	o.mu.Unlock()
	if o.opts.OnChange != nil {
		o.opts.OnChange(next)
	}
}

// putLocked records one admin/ key and value, or drops what the key held
// when either does not pass, counting and logging it.
func (o *Operator) putLocked(key string, value []byte) {
	rel := strings.TrimPrefix(key, o.prefix)
	e, err := ParseAdminEntry(rel, value)
	if err == nil && len(o.entries) >= maxAdminEntries {
		if _, ok := o.entries[rel]; !ok {
			err = fmt.Errorf("more than %d operator overrides", maxAdminEntries)
		}
	}
	if err != nil {
		delete(o.entries, rel)
		o.badLocked(rel, err)
		return
	}
	o.entries[rel] = adminEntry{edit: e}
}

// badLocked counts a malformed key or value and logs it, at most once per
// badLogEvery, with how many were not logged since.
func (o *Operator) badLocked(rel string, err error) {
	o.malformed.Add(1)
	now := time.Now()
	if !o.badLogged.IsZero() && now.Sub(o.badLogged) < badLogEvery {
		o.badQuiet++
		return
	}
	o.log.Error("ignoring a malformed value in etcd", "key", clip(rel), "error", err, "not_logged_since_last", o.badQuiet)
	o.badLogged, o.badQuiet = now, 0
}

// adminStateJSON and adminWeightJSON are the values' wire forms.
type adminStateJSON struct {
	State *string `json:"state"`
}

type adminWeightJSON struct {
	Weight *int `json:"weight"`
}

// ParseAdminEntry reads one key under admin/ (without the prefix) and its
// value strictly: the key in its canonical form, the value at most
// MaxValueBytes of one JSON object with its one known field, a state of
// up, down or drain, or a weight from 0 to healthcheck.MaxWeight.
func ParseAdminEntry(rel string, value []byte) (healthcheck.Edit, error) {
	var kind healthcheck.EditKind
	var rest string
	switch {
	case strings.HasPrefix(rel, adminEndpoints):
		kind, rest = healthcheck.EditEndpoint, rel[len(adminEndpoints):]
	case strings.HasPrefix(rel, adminRegions):
		kind, rest = healthcheck.EditRegion, rel[len(adminRegions):]
	case strings.HasPrefix(rel, adminWeights):
		kind, rest = healthcheck.EditWeight, rel[len(adminWeights):]
	default:
		return healthcheck.Edit{}, fmt.Errorf("key %q is not under admin/endpoints/, admin/regions/ or admin/weights/", clip(rel))
	}
	name, item, ok := strings.Cut(rest, "/")
	if !ok {
		return healthcheck.Edit{}, fmt.Errorf("key %q does not end in <name>/<item>", clip(rel))
	}
	e := healthcheck.Edit{Kind: kind, Name: name, Item: item, Weight: -1}
	if k, err := adminKey(e); err != nil || k != rel {
		return healthcheck.Edit{}, fmt.Errorf("key %q is not a canonical override key", clip(rel))
	}
	if kind == healthcheck.EditWeight {
		var v adminWeightJSON
		if err := decodeStrict(value, &v); err != nil {
			return healthcheck.Edit{}, err
		}
		if v.Weight == nil {
			return healthcheck.Edit{}, errors.New("no weight")
		}
		if err := healthcheck.CheckWeight(*v.Weight); err != nil {
			return healthcheck.Edit{}, err
		}
		e.Weight = *v.Weight
		return e, nil
	}
	var v adminStateJSON
	if err := decodeStrict(value, &v); err != nil {
		return healthcheck.Edit{}, err
	}
	if v.State == nil {
		return healthcheck.Edit{}, errors.New("no state")
	}
	switch st := healthcheck.AdminState(*v.State); st {
	case healthcheck.AdminUp, healthcheck.AdminDown, healthcheck.AdminDrain:
		e.State = st
	default:
		return healthcheck.Edit{}, fmt.Errorf("state %q is not up, down or drain", clip(*v.State))
	}
	return e, nil
}

// adminKey is the key, without the prefix, that holds e's target.
func adminKey(e healthcheck.Edit) (string, error) {
	switch e.Kind {
	case healthcheck.EditEndpoint:
		k, err := healthcheck.EndpointKey(e.Name, e.Item)
		return adminEndpoints + k, err
	case healthcheck.EditRegion:
		k, err := healthcheck.RegionKey(e.Name, e.Item)
		return adminRegions + k, err
	case healthcheck.EditWeight:
		k, err := healthcheck.EndpointKey(e.Name, e.Item)
		return adminWeights + k, err
	}
	return "", fmt.Errorf("unknown edit kind %d", e.Kind)
}

// adminValue is the value that sets e, or nil when e clears its target.
func adminValue(e healthcheck.Edit) []byte {
	if e.Kind == healthcheck.EditWeight {
		if e.Weight < 0 {
			return nil
		}
		return fmt.Appendf(nil, `{"weight":%d}`, e.Weight)
	}
	if e.State == "" {
		return nil
	}
	return fmt.Appendf(nil, `{"state":%q}`, e.State)
}

// Apply writes e to etcd together with the record of the change c (its
// Time, Instance, Target, Old and New filled in), in one
// transaction that holds only if the target's key did not change since
// it was read (retried a few times otherwise), keeps the last Keep
// changes, and waits (briefly) until this instance applies it.
func (o *Operator) Apply(ctx context.Context, e healthcheck.Edit, c healthcheck.Change) (healthcheck.Change, error) {
	rel, err := adminKey(e)
	if err != nil {
		return c, err
	}
	if e.Kind == healthcheck.EditWeight && e.Weight >= 0 {
		if err := healthcheck.CheckWeight(e.Weight); err != nil {
			return c, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := o.client(ctx)
	if err != nil {
		return c, err
	}
	c.Target, _ = e.Target()
	key := o.prefix + rel
	for range casAttempts {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return c, fmt.Errorf("etcd: %w", err)
		}
		old := "none"
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			kv := resp.Kvs[0]
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
			if prev, err := ParseAdminEntry(rel, kv.Value); err == nil {
				old = prev.Value()
			} else {
				old = "malformed"
			}
		}
		op := clientv3.OpDelete(key)
		if v := adminValue(e); v != nil {
			op = clientv3.OpPut(key, string(v))
		}
		c.Time, c.Instance, c.Old, c.New = time.Now().UTC(), o.opts.Instance, old, e.Value()
		record := clientv3.OpPut(o.changeKey(c.Time), string(MarshalChange(c)))
		txn, err := cli.Txn(ctx).If(cmp).Then(op, record).Commit()
		if err != nil {
			return c, fmt.Errorf("etcd: %w", err)
		}
		if !txn.Succeeded {
			continue
		}
		if err := o.trim(ctx, cli); err != nil {
			o.log.Warn("could not trim the record of changes", "error", err)
		}
		o.waitApplied(ctx, txn.Header.Revision)
		return c, nil
	}
	return c, errors.New("the target kept changing under this change; try again")
}

// changeKey is the key of a change made at t by this instance.
func (o *Operator) changeKey(t time.Time) string {
	return fmt.Sprintf("%s%s%020d-%s", o.prefix, changesDir, t.UnixNano(), o.opts.Instance)
}

// trim deletes the oldest changes beyond the last Keep.
func (o *Operator) trim(ctx context.Context, cli *clientv3.Client) error {
	dir := o.prefix + changesDir
	n, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	excess := n.Count - int64(o.opts.Keep)
	if excess <= 0 {
		return nil
	}
	old, err := cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(excess))
	if err != nil || len(old.Kvs) == 0 {
		return err
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	_, err = cli.Delete(ctx, string(old.Kvs[0].Key), clientv3.WithRange(last+"\x00"))
	return err
}

// waitApplied waits until the watch has brought this instance to revision
// rev, at most applyWait.
func (o *Operator) waitApplied(ctx context.Context, rev int64) {
	deadline := time.NewTimer(applyWait)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		done, ch := o.rev >= rev, o.applied
		o.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}

// Changes reads up to n of the most recent changes from etcd, newest
// first; a malformed record is left out, counted and logged.
func (o *Operator) Changes(ctx context.Context, n int) ([]healthcheck.Change, error) {
	if n <= 0 || n > o.opts.Keep {
		n = o.opts.Keep
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := o.client(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := cli.Get(ctx, o.prefix+changesDir, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(int64(n)))
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	out := make([]healthcheck.Change, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		c, err := ParseChange(kv.Value)
		if err != nil {
			o.mu.Lock()
			o.badLocked(strings.TrimPrefix(string(kv.Key), o.prefix), err)
			o.mu.Unlock()
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// MarshalChange returns the value recorded for c.
func MarshalChange(c healthcheck.Change) []byte {
	c.Time = c.Time.UTC()
	b, _ := json.Marshal(c)
	return b
}

// ParseChange reads a recorded change strictly: at most MaxValueBytes of
// one JSON object with known fields only, a time, an action of drain,
// undrain or weight, an instance name or none, and short printable text.
func ParseChange(b []byte) (healthcheck.Change, error) {
	var c healthcheck.Change
	if err := decodeStrict(b, &c); err != nil {
		return healthcheck.Change{}, err
	}
	if c.Time.IsZero() {
		return healthcheck.Change{}, errors.New("no time")
	}
	switch c.Action {
	case "drain", "undrain", "weight":
	default:
		return healthcheck.Change{}, fmt.Errorf("action %q is not drain, undrain or weight", clip(c.Action))
	}
	if c.Instance != "" {
		if err := config.CheckInstanceName(c.Instance); err != nil {
			return healthcheck.Change{}, fmt.Errorf("instance: %w", err)
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"client", c.Client, 64}, {"auth", c.Auth, 32}, {"target", c.Target, 300}, {"old", c.Old, 32}, {"new", c.New, 32}} {
		if err := checkText(f.v, f.max); err != nil {
			return healthcheck.Change{}, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return c, nil
}
