package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Published zones (docs/fleet.md): `meridian publish` writes every file of
// a clean zones directory as one revision, in one transaction:
//
//	zones/current                 = <id>, the revision instances serve
//	zones/rev/<id>/manifest       = Manifest: when, by whom, each file's size and SHA-256
//	zones/rev/<id>/files/<path>   = the file, <path> relative to the zones directory
//
// Revision IDs count up from 1. The newest KeepRevisions are kept; older
// ones are deleted in the same transaction.
const (
	zonesDir        = "zones/"
	zonesCurrentKey = zonesDir + "current"
	zonesRevDir     = zonesDir + "rev/"
	manifestName    = "manifest"
	filesDir        = "files/"
)

// Limits on a published revision.
const (
	// KeepRevisions is how many revisions stay in etcd, the current one
	// included.
	KeepRevisions = 5
	// MaxRevisionFiles bounds the files of one revision.
	MaxRevisionFiles = 1000
	// maxManifestBytes bounds a manifest value.
	maxManifestBytes = 256 << 10
	// maxZonePath bounds a published file's path.
	maxZonePath = 255
	// maxZonePathDepth bounds its directories.
	maxZonePathDepth = 4
)

// Revision is a set of zone files published together.
type Revision struct {
	// ID is the revision's number, from 1 up.
	ID uint64
	// Manifest says when, by whom and what was published.
	Manifest Manifest
	// Files maps each path, relative to the zones directory with '/'
	// between directories, to the file's content.
	Files map[string][]byte
}

// Manifest is the description of a revision stored beside its files.
type Manifest struct {
	// Published is when meridian publish wrote the revision. Materialised
	// files get it as their modification time, so that every instance
	// derives the same serial for a zone without soa.serial.
	Published time.Time `json:"published"`
	// By names who published: user@host of the meridian publish process.
	By string `json:"by"`
	// Files are the revision's files, sorted by path.
	Files []ManifestFile `json:"files"`
}

// ManifestFile is one file of a revision.
type ManifestFile struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// CheckZonePath accepts the path of a published file: relative, with '/'
// between at most maxZonePathDepth directories, each part made of letters,
// digits, '.', '-' and '_', not starting with '.', and at most
// maxZonePath bytes. So no part is "." or "..", and no path is absolute
// or hidden.
func CheckZonePath(p string) error {
	if p == "" || len(p) > maxZonePath {
		return fmt.Errorf("path %q is empty or longer than %d bytes", clip(p), maxZonePath)
	}
	parts := strings.Split(p, "/")
	if len(parts) > maxZonePathDepth+1 {
		return fmt.Errorf("path %q is more than %d directories deep", clip(p), maxZonePathDepth)
	}
	for _, part := range parts {
		if part == "" || part[0] == '.' ||
			strings.Trim(part, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			return fmt.Errorf("path %q is not relative parts of letters, digits, '.', '-' and '_' that do not start with '.'", clip(p))
		}
	}
	return nil
}

// isZoneFile reports whether a published path is a zone file the zones
// package loads: a .yaml or .yml file at the top of the directory.
func isZoneFile(p string) bool {
	return !strings.Contains(p, "/") && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml"))
}

// NewRevision makes the revision of files (paths as in Revision.Files),
// published now by by. It checks every path and that there is a zone file.
func NewRevision(files map[string][]byte, by string, now time.Time) (*Revision, error) {
	if len(files) > MaxRevisionFiles {
		return nil, fmt.Errorf("%d files are more than the %d of a revision", len(files), MaxRevisionFiles)
	}
	rev := &Revision{Manifest: Manifest{Published: now.UTC().Truncate(time.Second), By: by}, Files: files}
	zoneFiles := 0
	for p, b := range files {
		if err := CheckZonePath(p); err != nil {
			return nil, err
		}
		if isZoneFile(p) {
			zoneFiles++
		}
		sum := sha256.Sum256(b)
		rev.Manifest.Files = append(rev.Manifest.Files, ManifestFile{Path: p, Bytes: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	if zoneFiles == 0 {
		return nil, errors.New("no zone file (*.yaml) to publish")
	}
	slices.SortFunc(rev.Manifest.Files, func(a, b ManifestFile) int { return strings.Compare(a.Path, b.Path) })
	return rev, nil
}

// sameFiles reports whether two manifests list the same content.
func sameFiles(a, b Manifest) bool {
	return slices.Equal(a.Files, b.Files)
}

// PublishResult is what Publish did.
type PublishResult struct {
	// ID is the revision now current.
	ID uint64
	// Unchanged reports that the current revision already held these
	// files, so nothing was written.
	Unchanged bool
	// Pruned counts the old revisions deleted.
	Pruned int
}

// Publish writes rev as the fleet's current revision under prefix, with
// its files, in one transaction that also deletes the revisions older
// than the newest KeepRevisions. It writes nothing when the current
// revision holds the same files. It fails, writing nothing, when another
// publish changed the current revision meanwhile.
func Publish(ctx context.Context, cli *clientv3.Client, prefix string, rev *Revision) (PublishResult, error) {
	cur, err := cli.Get(ctx, prefix+zonesCurrentKey)
	if err != nil {
		return PublishResult{}, fmt.Errorf("reading %s%s: %w", prefix, zonesCurrentKey, err)
	}
	var curID uint64
	var curMod int64
	if len(cur.Kvs) > 0 {
		curMod = cur.Kvs[0].ModRevision
		if id, err := parseRevisionID(string(cur.Kvs[0].Value)); err == nil {
			curID = id
			m, err := cli.Get(ctx, revKey(prefix, id)+manifestName)
			if err == nil && len(m.Kvs) > 0 {
				if old, err := parseManifest(m.Kvs[0].Value); err == nil && sameFiles(old, rev.Manifest) {
					return PublishResult{ID: id, Unchanged: true}, nil
				}
			}
		}
	}
	ids, err := revisionIDs(ctx, cli, prefix)
	if err != nil {
		return PublishResult{}, err
	}
	next := curID + 1
	if len(ids) > 0 {
		next = max(next, ids[len(ids)-1]+1)
	}
	rev.ID = next
	manifest, err := json.Marshal(rev.Manifest)
	if err != nil {
		return PublishResult{}, err
	}
	base := revKey(prefix, next)
	ops := []clientv3.Op{
		clientv3.OpPut(base+manifestName, string(manifest)),
		clientv3.OpPut(prefix+zonesCurrentKey, strconv.FormatUint(next, 10)),
	}
	for _, f := range rev.Manifest.Files {
		ops = append(ops, clientv3.OpPut(base+filesDir+f.Path, string(rev.Files[f.Path])))
	}
	pruned := 0
	if keep := KeepRevisions - 1; len(ids) > keep {
		for _, id := range ids[:len(ids)-keep] {
			ops = append(ops, clientv3.OpDelete(revKey(prefix, id), clientv3.WithPrefix()))
			pruned++
		}
	}
	resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(prefix+zonesCurrentKey), "=", curMod)).Then(ops...).Commit()
	if err != nil {
		return PublishResult{}, fmt.Errorf("writing revision %d (%d files; etcd's --max-txn-ops and --max-request-bytes bound one transaction): %w",
			next, len(rev.Files), err)
	}
	if !resp.Succeeded {
		return PublishResult{}, errors.New("another publish changed the current revision meanwhile; nothing was written: run meridian publish again")
	}
	return PublishResult{ID: next, Pruned: pruned}, nil
}

// revKey is the key prefix of revision id's keys.
func revKey(prefix string, id uint64) string {
	return prefix + zonesRevDir + strconv.FormatUint(id, 10) + "/"
}

// revisionIDs lists the revisions stored under prefix, in order.
func revisionIDs(ctx context.Context, cli *clientv3.Client, prefix string) ([]uint64, error) {
	resp, err := cli.Get(ctx, prefix+zonesRevDir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("listing %s%s: %w", prefix, zonesRevDir, err)
	}
	seen := map[uint64]bool{}
	for _, kv := range resp.Kvs {
		first, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix+zonesRevDir), "/")
		if id, err := parseRevisionID(first); err == nil {
			seen[id] = true
		}
	}
	ids := make([]uint64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// parseRevisionID reads a revision ID: a decimal number from 1 up,
// without leading zeros.
func parseRevisionID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 || strconv.FormatUint(id, 10) != s {
		return 0, fmt.Errorf("revision %q is not a number from 1 up", clip(s))
	}
	return id, nil
}

// parseManifest reads a manifest strictly.
func parseManifest(b []byte) (Manifest, error) {
	if len(b) > maxManifestBytes {
		return Manifest{}, fmt.Errorf("manifest of %d bytes is over the limit of %d", len(b), maxManifestBytes)
	}
	var m Manifest
	if err := decodeStrictLimit(b, &m, maxManifestBytes); err != nil {
		return Manifest{}, fmt.Errorf("manifest: %w", err)
	}
	if m.Published.IsZero() {
		return Manifest{}, errors.New("manifest: no published time")
	}
	if err := checkText(m.By, 256); err != nil {
		return Manifest{}, fmt.Errorf("manifest: by: %w", err)
	}
	if len(m.Files) > MaxRevisionFiles {
		return Manifest{}, fmt.Errorf("manifest: %d files are more than the %d of a revision", len(m.Files), MaxRevisionFiles)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := CheckZonePath(f.Path); err != nil {
			return Manifest{}, fmt.Errorf("manifest: %w", err)
		}
		if seen[f.Path] {
			return Manifest{}, fmt.Errorf("manifest: %s is listed twice", f.Path)
		}
		seen[f.Path] = true
		if len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" || f.Bytes < 0 {
			return Manifest{}, fmt.Errorf("manifest: %s: no valid size and SHA-256", f.Path)
		}
	}
	return m, nil
}

// ErrUnreachable marks an error of reading from etcd, not of what was read:
// trying again later may succeed.
var ErrUnreachable = errors.New("etcd did not answer")

// ReadRevision reads revision id under prefix and checks it as untrusted
// input: the manifest, every path (CheckZonePath), every file within
// fileBytes and matching the manifest's size and SHA-256, no file that
// the manifest does not list, and at least one zone file.
func ReadRevision(ctx context.Context, cli *clientv3.Client, prefix string, id uint64, fileBytes int64) (*Revision, error) {
	base := revKey(prefix, id)
	resp, err := cli.Get(ctx, base, clientv3.WithPrefix(), clientv3.WithLimit(MaxRevisionFiles+2))
	if err != nil {
		return nil, fmt.Errorf("reading revision %d: %w: %w", id, ErrUnreachable, err)
	}
	if resp.More {
		return nil, fmt.Errorf("revision %d has more than %d keys", id, MaxRevisionFiles+1)
	}
	rev := &Revision{ID: id, Files: map[string][]byte{}}
	haveManifest := false
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), base)
		switch {
		case rel == manifestName:
			if rev.Manifest, err = parseManifest(kv.Value); err != nil {
				return nil, fmt.Errorf("revision %d: %w", id, err)
			}
			haveManifest = true
		case strings.HasPrefix(rel, filesDir):
			p := rel[len(filesDir):]
			if err := CheckZonePath(p); err != nil {
				return nil, fmt.Errorf("revision %d: %w", id, err)
			}
			if int64(len(kv.Value)) > fileBytes {
				return nil, fmt.Errorf("revision %d: %s: %d bytes are over limits.zone_file_bytes (%d)", id, p, len(kv.Value), fileBytes)
			}
			rev.Files[p] = kv.Value
		default:
			return nil, fmt.Errorf("revision %d: unexpected key %q", id, clip(rel))
		}
	}
	if !haveManifest {
		return nil, fmt.Errorf("revision %d: no manifest (not published, or pruned)", id)
	}
	zoneFiles := 0
	for _, f := range rev.Manifest.Files {
		b, ok := rev.Files[f.Path]
		if !ok {
			return nil, fmt.Errorf("revision %d: %s is in the manifest but not stored", id, f.Path)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Bytes || hex.EncodeToString(sum[:]) != f.SHA256 {
			return nil, fmt.Errorf("revision %d: %s does not match its size and SHA-256 in the manifest", id, f.Path)
		}
		if isZoneFile(f.Path) {
			zoneFiles++
		}
	}
	if len(rev.Files) != len(rev.Manifest.Files) {
		return nil, fmt.Errorf("revision %d: %d files stored, %d in the manifest", id, len(rev.Files), len(rev.Manifest.Files))
	}
	if zoneFiles == 0 {
		return nil, fmt.Errorf("revision %d: no zone file", id)
	}
	return rev, nil
}

// Materialise writes the revision's files into a new directory under
// parent (mode 0700, files 0600, modification time the publish time) and
// returns it. Every path was checked by ReadRevision or NewRevision, and
// is written through an os.Root besides, so no file lands outside the
// directory.
func (r *Revision) Materialise(parent string) (dir string, err error) {
	dir, err = os.MkdirTemp(parent, "rev-"+strconv.FormatUint(r.ID, 10)+"-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			dir = ""
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	for _, f := range r.Manifest.Files {
		if err := CheckZonePath(f.Path); err != nil {
			return "", err
		}
		if d := path.Dir(f.Path); d != "." {
			if err := root.MkdirAll(d, 0o700); err != nil {
				return "", err
			}
		}
		w, err := root.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", err
		}
		_, err = w.Write(r.Files[f.Path])
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		if err := root.Chtimes(f.Path, r.Manifest.Published, r.Manifest.Published); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Dial returns a client of the etcd the connection names. A request
// made with it waits for etcd at most the context's deadline.
func Dial(c Connection) (*clientv3.Client, error) { return c.client(5*time.Second, 0) }

// client returns a client of the etcd c names that gives up connecting
// after dial and, with keepAlive set, pings an idle connection that often
// and drops it after dial without an answer.
func (c Connection) client(dial, keepAlive time.Duration) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   c.Endpoints,
		TLS:         c.TLS,
		Username:    c.Username,
		Password:    c.Password,
		DialTimeout: dial,
		Logger:      zap.NewNop(),
	}
	if keepAlive > 0 {
		cfg.DialKeepAliveTime, cfg.DialKeepAliveTimeout = keepAlive, dial
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client: %w", err)
	}
	return cli, nil
}

// decodeStrictLimit decodes one JSON object of known fields, of at most
// limit bytes, and nothing after.
func decodeStrictLimit(b []byte, v any, limit int) error {
	if len(b) > limit {
		return fmt.Errorf("value of %d bytes is over the limit of %d", len(b), limit)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("not the expected JSON: %w", err)
	}
	if len(bytes.TrimSpace(b[d.InputOffset():])) > 0 {
		return errors.New("data after the JSON value")
	}
	return nil
}
