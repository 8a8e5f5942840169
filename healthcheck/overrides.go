package healthcheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/internal/capped"
	"github.com/meridian-dns/meridian/internal/diag"
	"github.com/meridian-dns/meridian/internal/watch"
)

// AdminState is an operator's override of an endpoint's or a region's
// health, as written in the admin_state file.
type AdminState string

// The overrides an operator can set.
const (
	// AdminUp treats the endpoint or region as up whatever its checks say.
	AdminUp AdminState = "up"
	// AdminDown treats it as failed whatever its checks say.
	AdminDown AdminState = "down"
	// AdminDrain takes it out of answers on purpose, for maintenance, while
	// its checks keep running.
	AdminDrain AdminState = "drain"
)

// ParseAdminState parses "up", "down" or "drain".
func ParseAdminState(s string) (AdminState, error) {
	switch st := AdminState(strings.ToLower(strings.TrimSpace(s))); st {
	case AdminUp, AdminDown, AdminDrain:
		return st, nil
	default:
		return "", fmt.Errorf("unknown state %q (want up, down or drain)", s)
	}
}

// Overrides is an immutable set of operator overrides: per endpoint, keyed
// by service FQDN and address ("www.example.com./198.51.100.10"), and per
// region, keyed by zone and region ("example.com./eu-west"). Names are
// compared without regard to case or a trailing dot, and addresses in their
// canonical form. It also holds runtime weights of endpoints, keyed like
// the endpoint overrides. A nil *Overrides holds no overrides.
type Overrides struct {
	endpoints map[string]AdminState
	regions   map[string]AdminState
	weights   map[string]int
}

// MaxWeight is the largest endpoint weight, as in a zone file.
const MaxWeight = 1_000_000

// NewOverrides returns an empty set of overrides.
func NewOverrides() *Overrides {
	return &Overrides{endpoints: map[string]AdminState{}, regions: map[string]AdminState{}, weights: map[string]int{}}
}

// Empty reports whether o holds no override and no weight.
func (o *Overrides) Empty() bool {
	return o == nil || len(o.endpoints)+len(o.regions)+len(o.weights) == 0
}

// EndpointEntry returns, with one lookup of the endpoint's key, the
// override of the endpoint at addr in service and its runtime weight, if
// any.
func (o *Overrides) EndpointEntry(service, addr string) (st AdminState, hasState bool, weight int, hasWeight bool) {
	if o == nil {
		return "", false, 0, false
	}
	k, err := endpointKey(service, addr)
	if err != nil {
		return "", false, 0, false
	}
	st, hasState = o.endpoints[k]
	weight, hasWeight = o.weights[k]
	return st, hasState, weight, hasWeight
}

// EndpointEntryByKey is EndpointEntry for an endpoint's canonical key
// ("service./address", as zones.Endpoint.Key holds it), without parsing or
// allocating: the DNS path asks it for every endpoint of every answer.
func (o *Overrides) EndpointEntryByKey(key string) (st AdminState, hasState bool, weight int, hasWeight bool) {
	if o == nil {
		return "", false, 0, false
	}
	st, hasState = o.endpoints[key]
	weight, hasWeight = o.weights[key]
	return st, hasState, weight, hasWeight
}

// Weight returns the runtime weight of the endpoint at addr in service, if
// any.
func (o *Overrides) Weight(service, addr string) (int, bool) {
	_, _, w, ok := o.EndpointEntry(service, addr)
	return w, ok
}

// Weights returns a copy of the runtime weights by canonical endpoint key.
func (o *Overrides) Weights() map[string]int {
	if o == nil {
		return map[string]int{}
	}
	return maps.Clone(o.weights)
}

// WithWeight returns a copy of o in which the endpoint at addr in service
// has runtime weight w (0 to MaxWeight).
func (o *Overrides) WithWeight(service, addr string, w int) (*Overrides, error) {
	k, err := endpointKey(service, addr)
	if err != nil {
		return nil, err
	}
	if err := CheckWeight(w); err != nil {
		return nil, err
	}
	c := o.clone()
	c.weights[k] = w
	return c, nil
}

// WithoutWeight returns a copy of o without a runtime weight of the
// endpoint at addr in service.
func (o *Overrides) WithoutWeight(service, addr string) *Overrides {
	c := o.clone()
	if k, err := endpointKey(service, addr); err == nil {
		delete(c.weights, k)
	}
	return c
}

// CheckWeight accepts an endpoint weight: 0 to MaxWeight.
func CheckWeight(w int) error {
	if w < 0 || w > MaxWeight {
		return fmt.Errorf("weight %d is outside 0..%d", w, MaxWeight)
	}
	return nil
}

// Merge returns the overrides of o with those of over added; where both
// name the same endpoint, region or weight, over's entry wins.
func (o *Overrides) Merge(over *Overrides) *Overrides {
	c := o.clone()
	if over == nil {
		return c
	}
	maps.Copy(c.endpoints, over.endpoints)
	maps.Copy(c.regions, over.regions)
	maps.Copy(c.weights, over.weights)
	return c
}

// Endpoint returns the override of the endpoint at addr in service, if any.
func (o *Overrides) Endpoint(service, addr string) (AdminState, bool) {
	if o == nil {
		return "", false
	}
	k, err := endpointKey(service, addr)
	if err != nil {
		return "", false
	}
	st, ok := o.endpoints[k]
	return st, ok
}

// Region returns the override of region in zone, if any.
func (o *Overrides) Region(zone, region string) (AdminState, bool) {
	if o == nil {
		return "", false
	}
	k, err := regionKey(zone, region)
	if err != nil {
		return "", false
	}
	st, ok := o.regions[k]
	return st, ok
}

// RegionByKey is Region for a region's canonical key ("zone./name", as
// zones.Region.Key holds it), without parsing or allocating.
func (o *Overrides) RegionByKey(key string) (AdminState, bool) {
	if o == nil {
		return "", false
	}
	st, ok := o.regions[key]
	return st, ok
}

// Endpoints returns a copy of the endpoint overrides by canonical key.
func (o *Overrides) Endpoints() map[string]AdminState {
	if o == nil {
		return map[string]AdminState{}
	}
	return maps.Clone(o.endpoints)
}

// Regions returns a copy of the region overrides by canonical key.
func (o *Overrides) Regions() map[string]AdminState {
	if o == nil {
		return map[string]AdminState{}
	}
	return maps.Clone(o.regions)
}

// WithEndpoint returns a copy of o in which the endpoint at addr in service
// has override st.
func (o *Overrides) WithEndpoint(service, addr string, st AdminState) (*Overrides, error) {
	k, err := endpointKey(service, addr)
	if err != nil {
		return nil, err
	}
	if _, err := ParseAdminState(string(st)); err != nil {
		return nil, err
	}
	c := o.clone()
	c.endpoints[k] = st
	return c, nil
}

// WithoutEndpoint returns a copy of o without an override of the endpoint
// at addr in service.
func (o *Overrides) WithoutEndpoint(service, addr string) *Overrides {
	c := o.clone()
	if k, err := endpointKey(service, addr); err == nil {
		delete(c.endpoints, k)
	}
	return c
}

// WithRegion returns a copy of o in which region in zone has override st.
func (o *Overrides) WithRegion(zone, region string, st AdminState) (*Overrides, error) {
	k, err := regionKey(zone, region)
	if err != nil {
		return nil, err
	}
	if _, err := ParseAdminState(string(st)); err != nil {
		return nil, err
	}
	c := o.clone()
	c.regions[k] = st
	return c, nil
}

// WithoutRegion returns a copy of o without an override of region in zone.
func (o *Overrides) WithoutRegion(zone, region string) *Overrides {
	c := o.clone()
	if k, err := regionKey(zone, region); err == nil {
		delete(c.regions, k)
	}
	return c
}

func (o *Overrides) clone() *Overrides {
	if o == nil {
		return NewOverrides()
	}
	return &Overrides{endpoints: maps.Clone(o.endpoints), regions: maps.Clone(o.regions), weights: maps.Clone(o.weights)}
}

func canonicalName(name string) string {
	return strings.ToLower(dns.Fqdn(strings.TrimSpace(name)))
}

// EndpointKey returns the canonical "service./address" key of an endpoint,
// or an error when service is not a domain name or addr not an address.
func EndpointKey(service, addr string) (string, error) { return endpointKey(service, addr) }

// RegionKey returns the canonical "zone./region" key of a region.
func RegionKey(zone, region string) (string, error) { return regionKey(zone, region) }

// endpointKey returns the canonical "service./address" key; an endpoint
// that is a CNAME is keyed by its target, "service./target.".
func endpointKey(service, addr string) (string, error) {
	name := canonicalName(service)
	if _, ok := dns.IsDomainName(name); !ok || name == "." || strings.Contains(name, "/") {
		return "", fmt.Errorf("service %q is not a domain name", service)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err == nil {
		return name + "/" + a.Unmap().String(), nil
	}
	if target, ok := cnameTarget(addr); ok {
		return name + "/" + target, nil
	}
	return "", fmt.Errorf("address %q is not an IP address", addr)
}

// cnameTarget returns the canonical form of a CNAME endpoint's target,
// written in full. A host name's last label is not all digits (RFC 1123
// 2.1), no name has a colon, and a target of one label would be a name
// relative to its zone: so a mistyped address ("198.51.100") or a stray
// word is refused as an address rather than taken for a name.
func cnameTarget(s string) (string, bool) {
	s = strings.TrimSpace(s)
	target := canonicalName(s)
	if _, ok := dns.IsDomainName(target); !ok || target == "." || strings.ContainsAny(target, "/:") || strings.ContainsAny(s, " \t") {
		return "", false
	}
	labels := dns.SplitDomainName(target)
	if len(labels) < 2 {
		return "", false
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "", false
	}
	return target, true
}

// regionKey returns the canonical "zone./region" key.
func regionKey(zone, region string) (string, error) {
	name := canonicalName(zone)
	if _, ok := dns.IsDomainName(name); !ok || strings.Contains(name, "/") {
		return "", fmt.Errorf("zone %q is not a domain name", zone)
	}
	region = strings.TrimSpace(region)
	if region == "" || strings.ContainsAny(region, "/ \t") {
		return "", fmt.Errorf("region %q is not a region name", region)
	}
	return name + "/" + region, nil
}

// OverridesFile is an admin_state file and the most bytes read from it.
type OverridesFile struct {
	Path string
	// MaxBytes caps the file (limits.zone_file_bytes); 0 is the default,
	// 64 MiB.
	MaxBytes int64
	// Logger receives Watch's watcher errors; nil means slog.Default().
	Logger *slog.Logger
}

// read reads the file: only a regular file, and no more than MaxBytes.
func (f OverridesFile) read() ([]byte, error) {
	limit := f.MaxBytes
	if limit <= 0 {
		limit = capped.DefaultBytes
	}
	return capped.ReadFile(f.Path, limit)
}

// LoadOverrides reads the admin_state file at path with the default cap;
// see OverridesFile.Load.
func LoadOverrides(path string) (*Overrides, error) {
	return OverridesFile{Path: path}.Load()
}

// Load reads the admin_state file. A missing file holds no overrides and is
// not an error; anything else that cannot be read (a file that is not a
// regular file, or larger than MaxBytes) or parsed is, with the file and
// line of the mistake.
func (f OverridesFile) Load() (*Overrides, error) {
	path := f.Path
	data, err := f.read()
	if errors.Is(err, fs.ErrNotExist) {
		return NewOverrides(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("healthcheck: reading overrides: %w", err)
	}
	return ParseOverrides(data, path)
}

// yamlLineError matches the position yaml.v3 puts in syntax errors.
var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseOverrides parses the contents of an admin_state file; name is used in
// error messages, as in `admin_state.yaml:3: unknown state "drained"`.
func ParseOverrides(data []byte, name string) (*Overrides, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if line, msg, ok := diag.SyntaxError(data, err); ok {
			return nil, fmt.Errorf("%s:%d: %s", name, line, msg)
		}
		if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s:%s: %s", name, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	o := NewOverrides()
	if len(doc.Content) == 0 {
		return o, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return o, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: admin_state must be a mapping with endpoints, regions and weights", name, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var (
			into  map[string]AdminState
			keyOf func(a, b string) (string, error)
			what  string
		)
		if k.Value == "weights" {
			if err := parseWeightSection(v, o.weights, name); err != nil {
				return nil, err
			}
			continue
		}
		switch k.Value {
		case "endpoints":
			into, keyOf, what = o.endpoints, endpointKey, `"service./address"`
		case "regions":
			into, keyOf, what = o.regions, regionKey, `"zone./region"`
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q (want endpoints, regions or weights)", name, k.Line, k.Value)
		}
		if err := parseOverrideSection(v, into, keyOf, what, name); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// parseOverrideSection reads one "key: state" mapping into into.
func parseOverrideSection(node *yaml.Node, into map[string]AdminState, keyOf func(a, b string) (string, error), what, name string) error {
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: expected a mapping of %s to a state", name, node.Line, what)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: expected %s: up, down or drain", name, k.Line, what)
		}
		left, right, ok := strings.Cut(k.Value, "/")
		if !ok {
			return fmt.Errorf("%s:%d: key %q must be %s", name, k.Line, k.Value, what)
		}
		key, err := keyOf(left, right)
		if err != nil {
			return fmt.Errorf("%s:%d: key %q: %w", name, k.Line, k.Value, err)
		}
		st, err := ParseAdminState(v.Value)
		if err != nil {
			return fmt.Errorf("%s:%d: %q: %w", name, v.Line, k.Value, err)
		}
		if _, dup := into[key]; dup {
			return fmt.Errorf("%s:%d: %q is listed twice", name, k.Line, key)
		}
		into[key] = st
	}
	return nil
}

// parseWeightSection reads the "service./address: weight" mapping.
func parseWeightSection(node *yaml.Node, into map[string]int, name string) error {
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: expected a mapping of \"service./address\" to a weight", name, node.Line)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: expected \"service./address\": weight", name, k.Line)
		}
		left, right, ok := strings.Cut(k.Value, "/")
		if !ok {
			return fmt.Errorf("%s:%d: key %q must be \"service./address\"", name, k.Line, k.Value)
		}
		key, err := endpointKey(left, right)
		if err != nil {
			return fmt.Errorf("%s:%d: key %q: %w", name, k.Line, k.Value, err)
		}
		w, err := strconv.Atoi(v.Value)
		if err != nil || v.Tag != "!!int" || strconv.Itoa(w) != v.Value {
			return fmt.Errorf("%s:%d: %q: weight %q is not a whole number", name, v.Line, k.Value, v.Value)
		}
		if err := CheckWeight(w); err != nil {
			return fmt.Errorf("%s:%d: %q: %w", name, v.Line, k.Value, err)
		}
		if _, dup := into[key]; dup {
			return fmt.Errorf("%s:%d: %q is listed twice", name, k.Line, key)
		}
		into[key] = w
	}
	return nil
}

// Marshal returns o in the admin_state file format, keys sorted. The
// weights section is written only when o holds a weight.
func (o *Overrides) Marshal() ([]byte, error) {
	o = o.clone()
	section := func(m map[string]AdminState) *yaml.Node {
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			n.Content = append(n.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: k, Style: yaml.DoubleQuotedStyle},
				&yaml.Node{Kind: yaml.ScalarNode, Value: string(m[k])})
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	root := &yaml.Node{
		Kind:        yaml.MappingNode,
		HeadComment: "Operator overrides of endpoint and region health (up, down or drain).",
		Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: "endpoints"}, section(o.endpoints),
			{Kind: yaml.ScalarNode, Value: "regions"}, section(o.regions),
		},
	}
	if len(o.weights) > 0 {
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range slices.Sorted(maps.Keys(o.weights)) {
			n.Content = append(n.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Value: k, Style: yaml.DoubleQuotedStyle},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(o.weights[k])})
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "weights"}, n)
		root.HeadComment = "Operator overrides of endpoint and region health (up, down or drain), and runtime endpoint weights."
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("healthcheck: encoding overrides: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("healthcheck: encoding overrides: %w", err)
	}
	return buf.Bytes(), nil
}

// Save writes o to path atomically: readers (and WatchOverrides) see either
// the old file or the new one, never a partial write. An existing file keeps
// its permissions; a new one is created 0644.
func (o *Overrides) Save(path string) (err error) {
	data, err := o.Marshal()
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o644)
	if fi, statErr := os.Stat(path); statErr == nil {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: %w", err)
	}
	// Sync the directory so the rename itself survives a crash.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("healthcheck: saving overrides: syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("healthcheck: saving overrides: syncing %s: %w", dir, err)
	}
	return nil
}

// DefaultOverridesDebounce is the debounce WatchOverrides uses when given
// zero.
const DefaultOverridesDebounce = 100 * time.Millisecond

// WatchOverrides loads the admin_state file at path, passes it to onChange,
// and does so again whenever the file changes, until ctx ends. It watches
// the file's directory, so replacing the file by rename (as Save does) is
// seen; bursts of events within debounce are read once, and a watcher error
// or event overflow (which may have lost changes) has the file read again;
// content identical to what onChange last received is skipped. When the
// file cannot be read or parsed onChange gets a nil *Overrides and the
// error, and the caller should keep the overrides it has. WatchOverrides
// returns an error if the directory cannot be watched, and nil when ctx
// ends. It reads the file with the default cap; see OverridesFile.Watch.
func WatchOverrides(ctx context.Context, path string, debounce time.Duration, onChange func(*Overrides, error)) error {
	return OverridesFile{Path: path}.Watch(ctx, debounce, onChange)
}

// Watch is WatchOverrides for f, read within f.MaxBytes.
func (f OverridesFile) Watch(ctx context.Context, debounce time.Duration, onChange func(*Overrides, error)) error {
	path := f.Path
	if debounce <= 0 {
		debounce = DefaultOverridesDebounce
	}
	var (
		lastSum  [sha256.Size]byte
		haveLast bool
	)
	load := func() {
		data, err := f.read()
		if errors.Is(err, fs.ErrNotExist) {
			data, err = nil, nil
		}
		if err != nil {
			haveLast = false
			onChange(nil, fmt.Errorf("healthcheck: reading overrides: %w", err))
			return
		}
		sum := sha256.Sum256(data)
		if haveLast && sum == lastSum {
			return
		}
		o, err := ParseOverrides(data, path)
		if err != nil {
			haveLast = false
			onChange(nil, err)
			return
		}
		lastSum, haveLast = sum, true
		onChange(o, nil)
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	w, err := watch.New(watch.Config{
		Name:     "admin_state",
		Dirs:     func() []string { return []string{dir} },
		Relevant: func(name string) bool { return filepath.Base(name) == base },
		Debounce: debounce,
		Reload:   func(watch.Cause) { load() },
		Logger:   f.Logger,
	})
	if err != nil {
		return fmt.Errorf("healthcheck: watching overrides: %w", err)
	}
	load()
	return w.Run(ctx)
}
