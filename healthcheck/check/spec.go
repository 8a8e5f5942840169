package check

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/internal/diag"
)

// Type names the kind of probe a check runs.
type Type string

// The check types a Spec can name.
const (
	TCP   Type = "tcp"
	HTTP  Type = "http"
	HTTPS Type = "https"
	DNS   Type = "dns"
	Exec  Type = "exec"
)

// Defaults applied by Spec.WithDefaults to fields a zone leaves out.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
)

// MaxBodyBytes is how much of an HTTP response body expect_body searches.
const MaxBodyBytes = 64 << 10

// Spec is one named check as a zone file declares it under "checks:".
//
// The zero value of a field means "use the default"; WithDefaults fills them
// in and Validate reports what cannot be probed. A Spec is a plain value:
// copy it freely, but treat its slices as read-only once it has been handed to
// the health checker.
type Spec struct {
	// Name is the check's name in the zone (the key under "checks:"). The
	// zone loader sets it; it is passed to exec checks as MERIDIAN_CHECK and
	// is not part of the YAML mapping itself.
	Name string `yaml:"-"`

	Type Type `yaml:"type"`
	// Port is the port probed on the endpoint's check address. It is
	// required for tcp and defaults to 80, 443 and 53 for http, https and
	// dns.
	Port int `yaml:"port,omitempty"`

	// Path is the HTTP request path, "/" by default.
	Path string `yaml:"path,omitempty"`
	// Host is the HTTP Host header and, for https, the TLS server name.
	Host string `yaml:"host,omitempty"`
	// ExpectStatus lists the accepted HTTP status codes, 200-399 by default.
	// YAML gives one code or range (204, "200-299") or a list of them.
	ExpectStatus []StatusRange `yaml:"expect_status,omitempty"`
	// ExpectBody, when set, must occur in the first 64 KiB of the body.
	ExpectBody string `yaml:"expect_body,omitempty"`
	// LoadHeader names a response header carrying the endpoint's load as a
	// number between 0 and 1.
	LoadHeader string `yaml:"load_header,omitempty"`
	// TLSSkipVerify turns off certificate verification for https checks.
	TLSSkipVerify bool `yaml:"tls_skip_verify,omitempty"`

	// Query is the DNS question, "NAME TYPE" (for example
	// "www.example.com. A"); the type defaults to A.
	Query string `yaml:"query,omitempty"`
	// ExpectRcode lists the accepted DNS response codes, NOERROR by default;
	// YAML gives one or a list.
	ExpectRcode []Rcode `yaml:"expect_rcode,omitempty"`

	// Command is the program and arguments an exec check runs.
	Command []string `yaml:"command,omitempty"`

	// Interval is the time between probes, 10s by default; YAML spells it
	// as a duration string such as "10s" or "500ms".
	Interval time.Duration `yaml:"interval,omitempty"`
	// Timeout bounds one probe, 2s by default, and must be below Interval.
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Rise is how many consecutive successes bring a down endpoint up.
	Rise int `yaml:"rise,omitempty"`
	// Fall is how many consecutive failures take an up endpoint down.
	Fall int `yaml:"fall,omitempty"`
}

// WithDefaults returns a copy of s with every omitted field set to its
// default. It does not validate.
func (s Spec) WithDefaults() Spec {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Rise == 0 {
		s.Rise = DefaultRise
	}
	if s.Fall == 0 {
		s.Fall = DefaultFall
	}
	switch s.Type {
	case HTTP, HTTPS:
		if s.Port == 0 {
			s.Port = 80
			if s.Type == HTTPS {
				s.Port = 443
			}
		}
		if s.Path == "" {
			s.Path = "/"
		}
		if len(s.ExpectStatus) == 0 {
			s.ExpectStatus = []StatusRange{{Min: 200, Max: 399}}
		}
	case DNS:
		if s.Port == 0 {
			s.Port = 53
		}
		if len(s.ExpectRcode) == 0 {
			s.ExpectRcode = []Rcode{Rcode(dns.RcodeSuccess)}
		}
	}
	return s
}

// Validate reports the first reason s cannot be probed, with defaults
// applied to omitted fields. It does not know whether exec checks are
// allowed: the health checker enforces that when it is given targets.
func (s Spec) Validate() error {
	_, err := s.validate()
	return err
}

var httpTypes = []Type{HTTP, HTTPS}

// validate is Validate that also names the YAML key at fault, so Decode
// can point at its line. The key is empty when no single key is to blame.
func (s Spec) validate() (string, error) {
	switch s.Type {
	case TCP, HTTP, HTTPS, DNS, Exec:
	case "":
		return "type", errors.New("type is required (tcp, http, https, dns or exec)")
	default:
		return "type", fmt.Errorf("unknown type %q (want tcp, http, https, dns or exec)", string(s.Type))
	}

	fields := []struct {
		key   string
		set   bool
		types []Type
	}{
		{"path", s.Path != "", httpTypes},
		{"host", s.Host != "", httpTypes},
		{"expect_status", len(s.ExpectStatus) > 0, httpTypes},
		{"expect_body", s.ExpectBody != "", httpTypes},
		{"load_header", s.LoadHeader != "", httpTypes},
		{"tls_skip_verify", s.TLSSkipVerify, []Type{HTTPS}},
		{"query", s.Query != "", []Type{DNS}},
		{"expect_rcode", len(s.ExpectRcode) > 0, []Type{DNS}},
		{"command", len(s.Command) > 0, []Type{Exec}},
	}
	for _, f := range fields {
		if f.set && !containsType(f.types, s.Type) {
			return f.key, fmt.Errorf("%s is not used by %s checks", f.key, s.Type)
		}
	}

	if s.Port < 0 || s.Port > 65535 {
		return "port", fmt.Errorf("port %d out of range 1..65535", s.Port)
	}
	if s.Type == TCP && s.Port == 0 {
		return "port", errors.New("port 1..65535 is required for tcp checks")
	}
	switch {
	case s.Interval < 0:
		return "interval", fmt.Errorf("interval %s must be positive", s.Interval)
	case s.Timeout < 0:
		return "timeout", fmt.Errorf("timeout %s must be positive", s.Timeout)
	case s.Rise < 0:
		return "rise", fmt.Errorf("rise %d must be at least 1", s.Rise)
	case s.Fall < 0:
		return "fall", fmt.Errorf("fall %d must be at least 1", s.Fall)
	}

	d := s.WithDefaults()
	if d.Timeout >= d.Interval {
		return "timeout", fmt.Errorf("timeout %s must be below interval %s", d.Timeout, d.Interval)
	}

	switch d.Type {
	case HTTP, HTTPS:
		if err := validatePath(d.Path); err != nil {
			return "path", err
		}
		if d.Host != "" && !validHost(d.Host) {
			return "host", fmt.Errorf("host %q is not a host name or IP address", d.Host)
		}
		for _, r := range d.ExpectStatus {
			if err := r.validate(); err != nil {
				return "expect_status", err
			}
		}
		if len(d.ExpectBody) > MaxBodyBytes {
			return "expect_body", fmt.Errorf("expect_body is %d bytes, longer than the %d bytes searched", len(d.ExpectBody), MaxBodyBytes)
		}
		if d.LoadHeader != "" && !validHeaderName(d.LoadHeader) {
			return "load_header", fmt.Errorf("load_header %q is not a valid header name", d.LoadHeader)
		}
	case DNS:
		if d.Query == "" {
			return "query", errors.New(`dns checks require a query such as "www.example.com. A"`)
		}
		if _, _, err := ParseQuery(d.Query); err != nil {
			return "query", err
		}
	case Exec:
		if len(d.Command) == 0 || d.Command[0] == "" {
			return "command", errors.New("exec checks require a command")
		}
	}
	return "", nil
}

func containsType(types []Type, t Type) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func validatePath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	if _, err := url.ParseRequestURI(p); err != nil || strings.ContainsAny(p, " \t\r\n") {
		return fmt.Errorf("path %q is not a valid request path", p)
	}
	return nil
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	_, ok := dns.IsDomainName(h)
	return ok && !strings.ContainsAny(h, " \t/:@")
}

func validHeaderName(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return h != ""
}

// ParseQuery splits a dns check's query into a fully qualified name and a
// record type.
func ParseQuery(q string) (string, uint16, error) {
	f := strings.Fields(q)
	if len(f) == 0 || len(f) > 2 {
		return "", 0, fmt.Errorf("query %q must be \"NAME TYPE\"", q)
	}
	name := dns.Fqdn(f[0])
	if _, ok := dns.IsDomainName(name); !ok {
		return "", 0, fmt.Errorf("query %q: %q is not a domain name", q, f[0])
	}
	qtype := dns.TypeA
	if len(f) == 2 {
		t, ok := dns.StringToType[strings.ToUpper(f[1])]
		if !ok {
			return "", 0, fmt.Errorf("query %q: unknown record type %q", q, f[1])
		}
		qtype = t
	}
	return name, qtype, nil
}

// StatusRange is an inclusive range of HTTP status codes. In YAML it is a
// single code (204) or a range ("200-299").
type StatusRange struct {
	Min, Max int
}

// ParseStatusRange parses "204" or "200-299".
func ParseStatusRange(s string) (StatusRange, error) {
	loText, hiText, isRange := strings.Cut(strings.TrimSpace(s), "-")
	low, err := strconv.Atoi(strings.TrimSpace(loText))
	if err != nil {
		return StatusRange{}, fmt.Errorf("status %q is not a code or a range like 200-299", s)
	}
	high := low
	if isRange {
		if high, err = strconv.Atoi(strings.TrimSpace(hiText)); err != nil {
			return StatusRange{}, fmt.Errorf("status %q is not a code or a range like 200-299", s)
		}
	}
	r := StatusRange{Min: low, Max: high}
	return r, r.validate()
}

func (r StatusRange) validate() error {
	if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Errorf("status range %s is not within 100-599 with low <= high", r)
	}
	return nil
}

// Contains reports whether code lies in the range.
func (r StatusRange) Contains(code int) bool {
	return code >= r.Min && code <= r.Max
}

// String returns the range as written in YAML.
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// UnmarshalYAML decodes a code or a range from a scalar node.
func (r *StatusRange) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: status must be a code or a range like 200-299", node.Line)
	}
	v, err := ParseStatusRange(node.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", node.Line, err)
	}
	*r = v
	return nil
}

// MarshalYAML encodes the range as an int or a "low-high" string.
func (r StatusRange) MarshalYAML() (any, error) {
	if r.Min == r.Max {
		return r.Min, nil
	}
	return r.String(), nil
}

// Rcode is a DNS response code. In YAML it is a mnemonic such as NOERROR or
// NXDOMAIN, or a number.
type Rcode int

// String returns the mnemonic of the code, or its number when it has none.
func (r Rcode) String() string {
	if s, ok := dns.RcodeToString[int(r)]; ok {
		return s
	}
	return strconv.Itoa(int(r))
}

// UnmarshalYAML decodes a response code mnemonic or number.
func (r *Rcode) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: rcode must be a name such as NOERROR or a number", node.Line)
	}
	if n, err := strconv.Atoi(node.Value); err == nil {
		if n < 0 || n > 0xfff {
			return fmt.Errorf("line %d: rcode %d out of range 0..4095", node.Line, n)
		}
		*r = Rcode(n)
		return nil
	}
	n, ok := dns.StringToRcode[strings.ToUpper(node.Value)]
	if !ok {
		return fmt.Errorf("line %d: unknown rcode %q", node.Line, node.Value)
	}
	*r = Rcode(n)
	return nil
}

// MarshalYAML encodes the code as its mnemonic.
func (r Rcode) MarshalYAML() (any, error) {
	return r.String(), nil
}

// Decode decodes one check from its YAML mapping, rejecting unknown keys,
// and returns it validated and with defaults applied. Errors carry the line
// of the mistake, as in `line 7: unknown key "intreval"` or
// `line 9: timeout 5s must be below interval 2s`. The caller sets Name from
// the key the mapping sits under.
func Decode(node *yaml.Node) (Spec, error) {
	if node == nil {
		return Spec{}, errors.New("check is empty")
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) == 1 {
		node = node.Content[0]
	}
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	if node.Kind != yaml.MappingNode {
		return Spec{}, fmt.Errorf("line %d: check must be a mapping of keys such as type and port", node.Line)
	}
	if err := checkKeys(node, specKeys()); err != nil {
		return Spec{}, err
	}
	node = singleAsList(node, "expect_status", "expect_rcode")
	var s Spec
	if err := node.Decode(&s); err != nil {
		return Spec{}, tidyYAMLError(node, err)
	}
	if key, err := s.validate(); err != nil {
		return Spec{}, fmt.Errorf("line %d: %w", keyLine(node, key), err)
	}
	return s.WithDefaults(), nil
}

// specKeys returns the YAML keys Spec accepts, read from its struct tags.
var specKeys = sync.OnceValue(func() map[string]bool {
	keys := make(map[string]bool)
	t := reflect.TypeFor[Spec]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
})

// checkKeys rejects keys of a mapping that are not in known, following
// merge keys ("<<") into the mappings they merge.
func checkKeys(node *yaml.Node, known map[string]bool) error {
	if node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	switch node.Kind {
	case yaml.SequenceNode:
		for _, n := range node.Content {
			if err := checkKeys(n, known); err != nil {
				return err
			}
		}
		return nil
	case yaml.MappingNode:
	default:
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k := node.Content[i]
		if k.Value == "<<" && k.Tag == "!!merge" {
			if err := checkKeys(node.Content[i+1], known); err != nil {
				return err
			}
			continue
		}
		if !known[k.Value] {
			return fmt.Errorf("line %d: unknown key %q%s", k.Line, k.Value, diag.DidYouMean(k.Value, slices.Sorted(maps.Keys(known))))
		}
	}
	return nil
}

// keyLine returns the line of key's value in a mapping, or the mapping's own
// line when the key is absent or empty.
func keyLine(node *yaml.Node, key string) int {
	for i := 0; key != "" && i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1].Line
		}
	}
	return node.Line
}

// singleAsList returns node with the values of the given keys that are a
// single scalar turned into a list of that one item, so that
// "expect_status: 200-299" means what "expect_status: [200-299]" does.
// node itself is not modified.
func singleAsList(node *yaml.Node, keys ...string) *yaml.Node {
	var out *yaml.Node
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || !slices.Contains(keys, k.Value) {
			continue
		}
		if out == nil {
			c := *node
			c.Content = slices.Clone(node.Content)
			out = &c
		}
		out.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: v.Line, Column: v.Column, Content: []*yaml.Node{v}}
	}
	if out == nil {
		return node
	}
	return out
}

// tidyYAMLError flattens a yaml.TypeError into its "line N: ..." messages,
// each saying what the value should have been rather than which Go type
// it did not fit.
func tidyYAMLError(node *yaml.Node, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		if line, text, ok := diag.TypeError(node, m); ok {
			msgs[i] = fmt.Sprintf("line %d: %s", line, text)
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}
