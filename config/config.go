// Package config reads Meridian's main configuration: one YAML file, with
// every key also settable from the environment (MERIDIAN_LISTEN,
// MERIDIAN_GEOIP_CITY, ...) and from flags. Precedence: flag > environment >
// file > default.
package config

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/internal/capped"
)

// Config is Meridian's main configuration.
type Config struct {
	// Listen is served over UDP and TCP: "127.0.0.1:5353", "[::1]:53".
	Listen []string `mapstructure:"listen"`
	// Zones is the directory whose *.yaml files are the zones.
	Zones string      `mapstructure:"zones"`
	GeoIP GeoIP       `mapstructure:"geoip"`
	HTTP  HTTP        `mapstructure:"http"`
	Log   Log         `mapstructure:"log"`
	DNS   DNSSettings `mapstructure:",squash"`
	TCP   TCP         `mapstructure:"tcp"`
	// RRL configures response rate limiting.
	RRL RRL `mapstructure:"rrl"`
	// Health configures health checking.
	Health Health `mapstructure:",squash"`
	// Limits bounds the configuration files Meridian reads.
	Limits Limits `mapstructure:"limits"`
	// Cluster joins this instance to a fleet on etcd; without endpoints
	// the instance runs alone.
	Cluster Cluster `mapstructure:"cluster"`

	// GOMAXPROCS is how many threads run Go code at once, besides the DNS
	// server's UDP readers (one more each, on Linux); 0 for the Go
	// runtime's default, which follows a container's CPU limit.
	GOMAXPROCS int `mapstructure:"gomaxprocs"`

	// File is the configuration file that was read, "" when none was.
	File string `mapstructure:"-"`
}

// GeoIP names the MaxMind-format databases; each is optional.
type GeoIP struct {
	City    string `mapstructure:"city"`
	Country string `mapstructure:"country"`
	ASN     string `mapstructure:"asn"`
}

// HTTP is the admin and metrics listener.
type HTTP struct {
	Listen string `mapstructure:"listen"`
	// Token, when set, is required as a bearer token by the API and the
	// status page.
	Token string `mapstructure:"token"`
	// Tokens are more bearer tokens, by name: any of them (or Token) is
	// accepted, and a change made with one is recorded with its name.
	// Names are lower case (the configuration's keys are).
	Tokens map[string]string `mapstructure:"tokens"`
	// AllowedNetworks may connect to the admin listener at all.
	AllowedNetworks []string `mapstructure:"allowed_networks"`
	// AllowedHosts are the Host headers the admin listener answers, as
	// "name", "name:port" or "[2001:db8::1]:9153"; empty means the listen
	// address, localhost, 127.0.0.1 and [::1]. It keeps pages that point a
	// name of their own at the listener (DNS rebinding) out.
	AllowedHosts []string `mapstructure:"allowed_hosts"`
}

// maxTokenName bounds a token's name, which changes record.
const maxTokenName = 32

// checkTokens accepts http.tokens: names of letters, digits, ".", "-" and
// "_" (at most maxTokenName), "token" being http.token's, and every token
// non-empty and different from every other.
func (h HTTP) checkTokens() error {
	seen := map[string]string{}
	if h.Token != "" {
		seen[h.Token] = "http.token"
	}
	names := slices.Sorted(maps.Keys(h.Tokens))
	for _, name := range names {
		tok := h.Tokens[name]
		if name == "" || len(name) > maxTokenName || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "" || name == "token" {
			return fmt.Errorf("http.tokens: %q is not a token name (letters, digits, \".\", \"-\" and \"_\", at most %d; \"token\" names http.token)", name, maxTokenName)
		}
		if strings.TrimSpace(tok) == "" {
			return fmt.Errorf("http.tokens: %s: the token is empty", name)
		}
		if other, dup := seen[tok]; dup {
			return fmt.Errorf("http.tokens: %s: the same token as %s", name, other)
		}
		seen[tok] = "http.tokens." + name
	}
	return nil
}

// AllowedPrefixes returns AllowedNetworks parsed (validate has checked them).
func (h HTTP) AllowedPrefixes() []netip.Prefix { return prefixes(h.AllowedNetworks) }

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	// Queries enables the query log; QuerySample is the share of queries
	// it records (0..1).
	Queries     bool    `mapstructure:"queries"`
	QuerySample float64 `mapstructure:"query_sample"`
}

// DNSSettings are protocol settings of the DNS front end.
type DNSSettings struct {
	// ServerID identifies this instance in NSID (RFC 5001) and, when Chaos
	// is on, in id.server / hostname.bind.
	ServerID string `mapstructure:"server_id"`
	// Chaos enables the CH TXT version.bind / id.server answers.
	Chaos bool `mapstructure:"chaos"`
	// Version is the version.bind text when Chaos is on.
	Version string `mapstructure:"version"`
	// UDPSize is the EDNS payload size advertised and the UDP reply limit.
	UDPSize int `mapstructure:"udp_size"`
	// ECS enables EDNS Client Subnet (RFC 7871).
	ECS bool `mapstructure:"ecs"`
	// ECSTrustedResolvers, when not empty, are the only resolvers whose
	// Client Subnet options are used; from others the option is ignored.
	// In the file it is ecs_trusted_resolvers, or trusted_resolvers under
	// an ecs mapping ({enabled: true, trusted_resolvers: [...]}).
	ECSTrustedResolvers []string `mapstructure:"ecs_trusted_resolvers"`
	// DebugNetworks may ask _explain.<service> TXT questions.
	DebugNetworks []string `mapstructure:"debug_networks"`
	// FastPath answers common queries from the answer cache instead of
	// through miekg/dns (the replies are the same bytes); off is for
	// diagnosis only.
	FastPath bool `mapstructure:"fast_path"`
	// AnswerCache bounds the fast path's cache of answers, in questions.
	AnswerCache int `mapstructure:"answer_cache"`
}

// ECSTrustedPrefixes returns ECSTrustedResolvers parsed (validate has
// checked them).
func (d DNSSettings) ECSTrustedPrefixes() []netip.Prefix { return prefixes(d.ECSTrustedResolvers) }

// DebugPrefixes returns DebugNetworks parsed (validate has checked them).
func (d DNSSettings) DebugPrefixes() []netip.Prefix { return prefixes(d.DebugNetworks) }

func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// RRL is response rate limiting (BIND/Knot/NSD style), on by default;
// off while ResponsesPerSecond is 0.
type RRL struct {
	ResponsesPerSecond int           `mapstructure:"responses_per_second"`
	Slip               int           `mapstructure:"slip"`
	Window             time.Duration `mapstructure:"window"`
	// Exempt networks are never limited.
	Exempt []string `mapstructure:"exempt"`
	// MaxEntries bounds the limiter's table of budgets.
	MaxEntries int `mapstructure:"max_entries"`
}

// ExemptPrefixes returns Exempt parsed (validate has checked them).
func (r RRL) ExemptPrefixes() []netip.Prefix { return prefixes(r.Exempt) }

// Health configures health checks and operator overrides.
type Health struct {
	// AllowExec permits exec checks (commands run by Meridian).
	AllowExec bool `mapstructure:"allow_exec"`
	// AdminState is the operator overrides file (drain, force up/down);
	// empty for none. It is watched like the zones.
	AdminState string `mapstructure:"admin_state"`
	// StartupGrace bounds how long Meridian waits for the first round of
	// probes before it starts answering.
	StartupGrace time.Duration `mapstructure:"startup_grace"`
	// Probes is the healthcheck section: how probes are sent.
	Probes Probes `mapstructure:"healthcheck"`
}

// Probes configures how health-check probes are sent.
type Probes struct {
	// SourceAddress, when set, is the local address tcp, http(s) and dns
	// probes leave from (for targets of its address family).
	SourceAddress string `mapstructure:"source_address"`
}

// SourceAddr returns SourceAddress parsed (validate has checked it); the
// zero Addr when it is not set.
func (p Probes) SourceAddr() netip.Addr {
	a, _ := netip.ParseAddr(p.SourceAddress)
	return a
}

// Cluster runs this instance as a member of a fleet that shares health
// observations through etcd (docs/fleet.md).
type Cluster struct {
	Etcd Etcd `mapstructure:"etcd"`
	// Instance is this member's unique name in the fleet; empty means
	// server_id, else the host name (see InstanceName).
	Instance string        `mapstructure:"instance"`
	Health   ClusterHealth `mapstructure:"health"`
	// ZonesFrom is where the zones come from: files (the zones
	// directory) or cluster (the revision meridian publish wrote to
	// etcd; the zones directory serves until it is read).
	ZonesFrom string `mapstructure:"zones_from"`
}

// Enabled reports whether a cluster is configured.
func (c Cluster) Enabled() bool { return len(c.Etcd.Endpoints) > 0 }

// Etcd is how to reach the fleet's etcd cluster.
type Etcd struct {
	// Endpoints are etcd client URLs: "https://etcd1.example.net:2379".
	Endpoints []string `mapstructure:"endpoints"`
	// Prefix is the part of the key space the fleet uses, "/meridian/".
	Prefix string  `mapstructure:"prefix"`
	TLS    EtcdTLS `mapstructure:"tls"`
	// Username and the file holding its password, for etcd's
	// authentication; both or neither.
	Username     string `mapstructure:"username"`
	PasswordFile string `mapstructure:"password_file"`
}

// EtcdTLS are PEM files: the CA that signed etcd's server certificates,
// and this instance's client certificate and key.
type EtcdTLS struct {
	CA   string `mapstructure:"ca"`
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// ClusterHealth is how the fleet decides health together.
type ClusterHealth struct {
	// DownWhen is how many of a target's observers must see it down for
	// the fleet to take it down: majority, any, all, or a number.
	DownWhen string `mapstructure:"down_when"`
	// Observers is how many live instances probe each target; 0 for all.
	Observers int `mapstructure:"observers"`
}

// Limits bounds what Meridian reads as configuration, so that a file it is
// given cannot exhaust its memory.
type Limits struct {
	// ZoneFileBytes is the largest zone file, records_file, admin_state
	// file or main configuration file read, in bytes.
	ZoneFileBytes int64 `mapstructure:"zone_file_bytes"`
	// ZoneRecords is the most records one zone may hold, counted after
	// $GENERATE expansion.
	ZoneRecords int `mapstructure:"zone_records"`
}

// TCP bounds the DNS-over-TCP listener (RFC 7766).
type TCP struct {
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// WriteTimeout closes a connection whose reply could not be written
	// for this long: the client is not reading.
	WriteTimeout   time.Duration `mapstructure:"write_timeout"`
	MaxConnections int           `mapstructure:"max_connections"`
	// MaxConnectionsIP bounds the connections of one client network
	// (ClientPrefixV4, ClientPrefixV6); the key keeps its older name.
	MaxConnectionsIP int `mapstructure:"max_connections_per_ip"`
	ClientPrefixV4   int `mapstructure:"client_prefix_v4"`
	ClientPrefixV6   int `mapstructure:"client_prefix_v6"`
	MaxInFlight      int `mapstructure:"max_in_flight"`
}

// defaults lists every key with its default value; a key not listed here is
// unknown and rejected.
var defaults = map[string]any{
	"listen":                     []string{"127.0.0.1:5353"},
	"zones":                      "zones",
	"geoip.city":                 "",
	"geoip.country":              "",
	"geoip.asn":                  "",
	"http.listen":                "127.0.0.1:9153",
	"http.token":                 "",
	"http.tokens":                map[string]string{},
	"http.allowed_networks":      []string{"127.0.0.0/8", "::1/128"},
	"http.allowed_hosts":         []string{},
	"log.level":                  "info",
	"log.format":                 "text",
	"log.queries":                false,
	"log.query_sample":           1.0,
	"server_id":                  "",
	"chaos":                      false,
	"version":                    "",
	"udp_size":                   1232,
	"ecs":                        true,
	"ecs_trusted_resolvers":      []string{},
	"debug_networks":             []string{"127.0.0.0/8", "::1/128"},
	"fast_path":                  true,
	"answer_cache":               131072,
	"tcp.idle_timeout":           "10s",
	"rrl.responses_per_second":   100,
	"rrl.slip":                   2,
	"rrl.window":                 "15s",
	"rrl.exempt":                 []string{},
	"rrl.max_entries":            250000,
	"allow_exec":                 false,
	"admin_state":                "",
	"startup_grace":              "5s",
	"gomaxprocs":                 0,
	"tcp.max_connections":        1000,
	"tcp.max_connections_per_ip": 32,
	"tcp.client_prefix_v4":       24,
	"tcp.client_prefix_v6":       56,
	"tcp.write_timeout":          "5s",
	"tcp.max_in_flight":          16,
	"limits.zone_file_bytes":     capped.DefaultBytes,
	"limits.zone_records":        5000000,
	"healthcheck.source_address": "",
	"cluster.etcd.endpoints":     []string{},
	"cluster.etcd.prefix":        "/meridian/",
	"cluster.etcd.tls.ca":        "",
	"cluster.etcd.tls.cert":      "",
	"cluster.etcd.tls.key":       "",
	"cluster.etcd.username":      "",
	"cluster.etcd.password_file": "",
	"cluster.instance":           "",
	"cluster.health.down_when":   "majority",
	"cluster.health.observers":   0,
	"cluster.zones_from":         "files",
}

// Flags adds the command-line flags that override configuration keys.
func Flags(fs *pflag.FlagSet) {
	fs.StringSlice("listen", nil, "addresses to serve DNS on, UDP and TCP (key listen)")
	fs.String("zones", "", "directory of zone files (key zones)")
	fs.String("geoip-city", "", "GeoIP City database (key geoip.city)")
	fs.String("geoip-country", "", "GeoIP Country database (key geoip.country)")
	fs.String("geoip-asn", "", "GeoIP ASN database (key geoip.asn)")
	fs.String("http-listen", "", "admin and metrics listener (key http.listen)")
	fs.String("log-level", "", "debug, info, warn or error (key log.level)")
	fs.String("log-format", "", "text or json (key log.format)")
	fs.String("server-id", "", "server identity for NSID (key server_id)")
}

var flagKeys = map[string]string{
	"listen": "listen", "zones": "zones", "geoip-city": "geoip.city", "geoip-country": "geoip.country",
	"geoip-asn": "geoip.asn", "http-listen": "http.listen", "log-level": "log.level",
	"log-format": "log.format", "server-id": "server_id",
}

// Load reads the configuration file at path ("" for none), then the
// environment, then the flags in fs (which may be nil), and validates the
// result.
func Load(path string, fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix("MERIDIAN")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	var size int64
	if path != "" {
		// The file cannot raise its own cap: it is read under the default
		// one, and held to the one it sets after.
		src, err := capped.ReadFile(path, capped.DefaultBytes)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		size = int64(len(src))
		if err := checkKeys(path, src); err != nil {
			return nil, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(strings.NewReader(string(src))); err != nil {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		flattenECS(v)
	}
	if fs != nil {
		for flag, key := range flagKeys {
			if f := fs.Lookup(flag); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return nil, err
				}
			}
		}
	}
	var c Config
	if err := v.Unmarshal(&c); err != nil {
		return nil, decodeError(orDefault(path), err, fs)
	}
	c.File = path
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", orDefault(path), err)
	}
	if size > c.Limits.ZoneFileBytes {
		return nil, fmt.Errorf("config: %s: %w", path, &capped.TooLargeError{Limit: c.Limits.ZoneFileBytes})
	}
	return &c, nil
}

func orDefault(path string) string {
	if path == "" {
		return "(defaults)"
	}
	return path
}

// checkKeys rejects keys of the file that Meridian does not know, naming
// the file, the line and the key, so a misspelt setting is never ignored.
func checkKeys(path string, src []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return syntaxError(path, src, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	parents := map[string]bool{}
	for k := range defaults {
		for i := strings.IndexByte(k, '.'); i >= 0; i = nextDot(k, i) {
			parents[k[:i]] = true
		}
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			if prefix != "" {
				return notASection(path, strings.TrimSuffix(prefix, "."), n)
			}
			return fmt.Errorf("config: %s:%d: expected a mapping", path, n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			switch {
			case key == "ecs" && n.Content[i+1].Kind == yaml.MappingNode:
				if err := walkECS(path, n.Content[i+1]); err != nil {
					return err
				}
			case parents[key]:
				if err := walk(n.Content[i+1], key+"."); err != nil {
					return err
				}
			case defaults[key] == nil:
				return unknownKey(path, n.Content[i].Line, key)
			default:
				if err := checkValue(path, key, n.Content[i+1]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(doc.Content[0], "")
}

// ecsMappingKeys are the keys of the mapping form of ecs: {enabled: true,
// trusted_resolvers: [...]}, the same settings as the flat keys ecs and
// ecs_trusted_resolvers.
var ecsMappingKeys = map[string]string{"enabled": "ecs", "trusted_resolvers": "ecs_trusted_resolvers"}

// walkECS checks the keys of the mapping form of ecs.
func walkECS(path string, n *yaml.Node) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := ecsMappingKeys[n.Content[i].Value]; !ok {
			return fmt.Errorf("config: %s:%d: unknown key \"ecs.%s\" (ecs takes enabled and trusted_resolvers)", path, n.Content[i].Line, n.Content[i].Value)
		}
	}
	return nil
}

// flattenECS turns the mapping form of ecs, as read from the file, into
// the flat keys.
func flattenECS(v *viper.Viper) {
	m, ok := v.Get("ecs").(map[string]any)
	if !ok {
		return
	}
	v.Set("ecs", true)
	for k, val := range m {
		if flat, ok := ecsMappingKeys[strings.ToLower(k)]; ok {
			v.Set(flat, val)
		}
	}
}

func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func (c *Config) validate() error {
	if len(c.Listen) == 0 {
		return fmt.Errorf("listen: at least one address is required")
	}
	for _, a := range c.Listen {
		if _, err := netip.ParseAddrPort(a); err != nil {
			return fmt.Errorf("listen: %q is not an address:port (use [::1]:53 for IPv6)", a)
		}
	}
	if c.HTTP.Listen != "" {
		if _, err := netip.ParseAddrPort(c.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen: %q is not an address:port", c.HTTP.Listen)
		}
	}
	if err := c.HTTP.checkTokens(); err != nil {
		return err
	}
	if c.Zones == "" {
		return fmt.Errorf("zones: a directory of zone files is required")
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q is not text or json", c.Log.Format)
	}
	if c.DNS.AnswerCache < 64 {
		return fmt.Errorf("answer_cache: %d is below the minimum of 64", c.DNS.AnswerCache)
	}
	if c.DNS.UDPSize < 512 || c.DNS.UDPSize > 4096 {
		return fmt.Errorf("udp_size: %d is outside 512..4096", c.DNS.UDPSize)
	}
	for key, list := range map[string][]string{"debug_networks": c.DNS.DebugNetworks, "http.allowed_networks": c.HTTP.AllowedNetworks, "rrl.exempt": c.RRL.Exempt, "ecs_trusted_resolvers": c.DNS.ECSTrustedResolvers} {
		for _, n := range list {
			if _, err := netip.ParsePrefix(n); err != nil {
				return fmt.Errorf("%s: %q is not a network like 127.0.0.0/8", key, n)
			}
		}
	}
	for _, h := range c.HTTP.AllowedHosts {
		if err := checkHost(h); err != nil {
			return fmt.Errorf("http.allowed_hosts: %q: %w", h, err)
		}
	}
	if c.Log.QuerySample < 0 || c.Log.QuerySample > 1 {
		return fmt.Errorf("log.query_sample: %v is outside 0..1", c.Log.QuerySample)
	}
	if c.RRL.ResponsesPerSecond < 0 || c.RRL.Slip < 0 || c.RRL.Window <= 0 || c.RRL.MaxEntries < 1000 {
		return fmt.Errorf("rrl: responses_per_second and slip must not be negative, window must be positive, max_entries at least 1000")
	}
	if c.GOMAXPROCS < 0 {
		return fmt.Errorf("gomaxprocs: %d must not be negative (0 for the Go runtime's default)", c.GOMAXPROCS)
	}
	if c.Health.StartupGrace < 0 {
		return fmt.Errorf("startup_grace: must not be negative")
	}
	if c.TCP.IdleTimeout <= 0 {
		return fmt.Errorf("tcp.idle_timeout: must be positive")
	}
	if c.Limits.ZoneFileBytes <= 0 || c.Limits.ZoneRecords <= 0 {
		return fmt.Errorf("limits: zone_file_bytes and zone_records must be positive")
	}
	if c.TCP.WriteTimeout <= 0 {
		return fmt.Errorf("tcp.write_timeout: must be positive")
	}
	if c.TCP.ClientPrefixV4 < 1 || c.TCP.ClientPrefixV4 > 32 {
		return fmt.Errorf("tcp.client_prefix_v4: %d is outside 1..32", c.TCP.ClientPrefixV4)
	}
	if c.TCP.ClientPrefixV6 < 1 || c.TCP.ClientPrefixV6 > 128 {
		return fmt.Errorf("tcp.client_prefix_v6: %d is outside 1..128", c.TCP.ClientPrefixV6)
	}
	if s := c.Health.Probes.SourceAddress; s != "" {
		if a, err := netip.ParseAddr(s); err != nil || a.Zone() != "" {
			return fmt.Errorf("healthcheck.source_address: %q is not an IP address", s)
		}
	}
	return c.validateCluster()
}

// checkHost accepts "name", "name:port", "192.0.2.1[:port]" and
// "[2001:db8::1][:port]".
func checkHost(s string) error {
	host, port, hasPort := s, "", false
	if rest, ok := strings.CutPrefix(s, "["); ok {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return fmt.Errorf("no closing bracket")
		}
		host, rest = rest[:end], rest[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
		if rest != "" {
			if port, hasPort = strings.CutPrefix(rest, ":"); !hasPort {
				return fmt.Errorf("want a port after the brackets")
			}
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port, hasPort = s[:i], s[i+1:], true
			if strings.Contains(host, ":") {
				return fmt.Errorf("write an IPv6 address in brackets, as [2001:db8::1] or [2001:db8::1]:9153")
			}
		}
		if _, err := netip.ParseAddr(host); err != nil && !isHostName(host) {
			return fmt.Errorf("%q is not a host name or address (letters, digits, - and . only; no scheme, path or wildcard)", host)
		}
	}
	if hasPort {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	return nil
}

// isHostName reports whether s is a DNS name (a final dot allowed).
func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return true
}

// SlogLevel returns the configured log level.
func (l Log) SlogLevel() (slog.Level, error) {
	switch strings.ToLower(l.Level) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level: %q is not debug, info, warn or error", l.Level)
}

// Keys returns every configuration key, sorted: the reference for docs and
// tests.
func Keys() []string {
	out := make([]string, 0, len(defaults))
	for k := range defaults {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
