package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/meridian-dns/meridian/config"
	"github.com/meridian-dns/meridian/internal/capped"
)

// maxSecretBytes bounds the password file and each PEM file read.
const maxSecretBytes = 1 << 20

// Connection is how a member reaches etcd.
type Connection struct {
	// Endpoints are etcd client URLs.
	Endpoints []string
	// Prefix is the fleet's part of the key space, ending in "/".
	Prefix string
	// TLS, when not nil, secures the connection (https endpoints).
	TLS *tls.Config
	// Username and Password authenticate with etcd's users and roles.
	Username, Password string
}

// ConnectionFrom reads the files the configuration names (TLS
// certificates and key, the password file) and returns the connection.
func ConnectionFrom(c config.Etcd) (Connection, error) {
	conn := Connection{Endpoints: c.Endpoints, Prefix: c.Prefix, Username: c.Username}
	if c.PasswordFile != "" {
		b, err := capped.ReadFile(c.PasswordFile, maxSecretBytes)
		if err != nil {
			return Connection{}, fmt.Errorf("cluster.etcd.password_file: %w", err)
		}
		conn.Password = strings.TrimRight(string(b), "\r\n")
		if conn.Password == "" {
			return Connection{}, fmt.Errorf("cluster.etcd.password_file: %s is empty", c.PasswordFile)
		}
	}
	t := c.TLS
	if t.CA == "" && t.Cert == "" && !hasHTTPS(c.Endpoints) {
		return conn, nil
	}
	conn.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := capped.ReadFile(t.CA, maxSecretBytes)
		if err != nil {
			return Connection{}, fmt.Errorf("cluster.etcd.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return Connection{}, fmt.Errorf("cluster.etcd.tls.ca: %s holds no PEM certificate", t.CA)
		}
		conn.TLS.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return Connection{}, fmt.Errorf("cluster.etcd.tls: cert %s and key %s: %w", t.Cert, t.Key, err)
		}
		conn.TLS.Certificates = []tls.Certificate{cert}
	}
	return conn, nil
}

func hasHTTPS(endpoints []string) bool {
	for _, e := range endpoints {
		if strings.HasPrefix(e, "https://") {
			return true
		}
	}
	return false
}

// LeaseTTL is the lease of a member whose slowest check runs every
// interval: about three intervals, so that a member that stopped or lost
// etcd stops counting after three missed rounds, and at least 3 seconds.
func LeaseTTL(interval time.Duration) time.Duration {
	return max(3*interval, 3*time.Second).Round(time.Second)
}
