package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// MaxInstanceName is the longest cluster.instance.
const MaxInstanceName = 63

// validateCluster checks the cluster section. Without endpoints the
// instance runs alone, and the other cluster keys must keep their
// defaults' meaning (zones_from: files).
func (c *Config) validateCluster() error {
	cl := &c.Cluster
	switch cl.ZonesFrom {
	case "files", "cluster":
	default:
		return fmt.Errorf("cluster.zones_from: %q is not files or cluster", cl.ZonesFrom)
	}
	if !cl.Enabled() {
		if cl.ZonesFrom == "cluster" {
			return fmt.Errorf("cluster.zones_from: cluster needs cluster.etcd.endpoints, the etcd the zones are published to")
		}
		return nil
	}
	for _, e := range cl.Etcd.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("cluster.etcd.endpoints: %q is not an etcd client URL like https://etcd1.example.net:2379", e)
		}
	}
	if err := CheckEtcdPrefix(cl.Etcd.Prefix); err != nil {
		return fmt.Errorf("cluster.etcd.prefix: %w", err)
	}
	if t := cl.Etcd.TLS; (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("cluster.etcd.tls: cert and key go together (the client certificate and its key)")
	}
	if (cl.Etcd.Username == "") != (cl.Etcd.PasswordFile == "") {
		return fmt.Errorf("cluster.etcd: username and password_file go together")
	}
	if cl.Instance == "" {
		cl.Instance = c.DNS.ServerID
	}
	if cl.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("cluster.instance: not set, and the host name is unknown: %w", err)
		}
		cl.Instance = host
	}
	if err := CheckInstanceName(cl.Instance); err != nil {
		return fmt.Errorf("cluster.instance: %w", err)
	}
	n, err := ParseDownWhen(cl.Health.DownWhen)
	if err != nil {
		return fmt.Errorf("cluster.health.down_when: %w", err)
	}
	if cl.Health.Observers < 0 {
		return fmt.Errorf("cluster.health.observers: %d must not be negative (0 for every instance)", cl.Health.Observers)
	}
	if n > 0 && cl.Health.Observers > 0 && n > cl.Health.Observers {
		return fmt.Errorf("cluster.health.down_when: %d is more than the %d observers of a target", n, cl.Health.Observers)
	}
	return nil
}

// ParseDownWhen checks a down_when value: majority, any, all, or a number
// of observers from 1 up. It returns the number, or 0 for the words.
func ParseDownWhen(s string) (int, error) {
	switch s {
	case "majority", "any", "all":
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("%q is not majority, any, all or a number of observers (1 or more)", s)
	}
	return n, nil
}

// CheckInstanceName accepts 1 to MaxInstanceName letters, digits, '.',
// '-' and '_': the name is the last part of the fleet's etcd keys.
func CheckInstanceName(s string) error {
	if s == "" || len(s) > MaxInstanceName || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" || s == "." || s == ".." {
		return fmt.Errorf("%q is not 1 to %d letters, digits, '.', '-' and '_'", s, MaxInstanceName)
	}
	return nil
}

// CheckEtcdPrefix accepts a key prefix that starts and ends with '/' and
// holds printable ASCII without spaces.
func CheckEtcdPrefix(s string) error {
	if !strings.HasPrefix(s, "/") || !strings.HasSuffix(s, "/") || len(s) > 128 {
		return fmt.Errorf("%q must start and end with / (like /meridian/) and be at most 128 bytes", s)
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("%q holds a character other than printable ASCII", s)
		}
	}
	return nil
}
