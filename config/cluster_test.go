package config

import (
	"strings"
	"testing"
)

// TestNoCluster: a configuration without a cluster section runs alone, as
// before the section existed.
func TestNoCluster(t *testing.T) {
	c, err := Load(writeConfig(t, "listen: [\"127.0.0.1:1053\"]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Enabled() || c.Cluster.Instance != "" || c.Health.Probes.SourceAddr().IsValid() {
		t.Errorf("cluster %+v, source address %q: want no cluster and no source address", c.Cluster, c.Health.Probes.SourceAddress)
	}
	if c.Cluster.Etcd.Prefix != "/meridian/" || c.Cluster.Health.DownWhen != "majority" || c.Cluster.ZonesFrom != "files" {
		t.Errorf("cluster defaults %+v", c.Cluster)
	}
}

// TestClusterSection loads issue 15's example section.
func TestClusterSection(t *testing.T) {
	c, err := Load(writeConfig(t, `
server_id: ns1-fra
cluster:
  etcd:
    endpoints: ["http://127.0.0.1:2379", "https://etcd2.example.net:2379"]
    prefix: /dns/meridian/
    tls: {ca: /etc/meridian/etcd-ca.pem, cert: /etc/meridian/etcd.pem, key: /etc/meridian/etcd-key.pem}
    username: meridian
    password_file: /etc/meridian/etcd-password
  health:
    down_when: 2
    observers: 3
  zones_from: files
healthcheck:
  source_address: 192.0.2.53
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Cluster
	if !cl.Enabled() || len(cl.Etcd.Endpoints) != 2 || cl.Etcd.Prefix != "/dns/meridian/" || cl.Etcd.TLS.Key != "/etc/meridian/etcd-key.pem" ||
		cl.Etcd.Username != "meridian" || cl.Health.DownWhen != "2" || cl.Health.Observers != 3 {
		t.Errorf("cluster %+v", cl)
	}
	if cl.Instance != "ns1-fra" {
		t.Errorf("instance %q, want server_id ns1-fra", cl.Instance)
	}
	if c.Health.Probes.SourceAddr().String() != "192.0.2.53" {
		t.Errorf("source address %v", c.Health.Probes.SourceAddr())
	}
}

func TestClusterInstanceDefaultsToHostName(t *testing.T) {
	c, err := Load(writeConfig(t, "cluster: {etcd: {endpoints: [\"http://127.0.0.1:2379\"]}}\n"), nil)
	if err != nil {
		t.Skipf("this host's name is not a valid instance name: %v", err)
	}
	if c.Cluster.Instance == "" {
		t.Error("no instance name")
	}
}

// TestZonesFromCluster: zones_from: cluster is accepted with a cluster.
func TestZonesFromCluster(t *testing.T) {
	c, err := Load(writeConfig(t, "cluster:\n  etcd: {endpoints: [\"http://127.0.0.1:2379\"]}\n  instance: a\n  zones_from: cluster\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.ZonesFrom != "cluster" {
		t.Errorf("zones_from %q", c.Cluster.ZonesFrom)
	}
}

func TestClusterInvalid(t *testing.T) {
	// cluster builds a cluster section with one endpoint, instance a, and
	// the lines given under etcd and under cluster.
	cluster := func(etcd, rest string) string {
		return "cluster:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n" + etcd + "  instance: a\n" + rest
	}
	cases := []struct{ name, body, want string }{
		{"zones from cluster without etcd", "cluster: {zones_from: cluster}\n", "zones_from: cluster needs cluster.etcd.endpoints"},
		{"zones from elsewhere", "cluster: {zones_from: git}\n", `"git" is not files or cluster`},
		{"endpoint without scheme", "cluster: {etcd: {endpoints: [\"127.0.0.1:2379\"]}, instance: a}\n", "not an etcd client URL"},
		{"endpoint with a path", "cluster: {etcd: {endpoints: [\"http://e:2379/v3\"]}, instance: a}\n", "not an etcd client URL"},
		{"prefix without slash", cluster("    prefix: meridian\n", ""), "must start and end with /"},
		{"cert without key", cluster("    tls: {cert: c.pem}\n", ""), "cert and key go together"},
		{"user without password", cluster("    username: u\n", ""), "username and password_file go together"},
		{"instance with slash", "cluster: {etcd: {endpoints: [\"http://127.0.0.1:2379\"]}, instance: a/b}\n", "not 1 to 63 letters"},
		{"down_when word", cluster("", "  health: {down_when: most}\n"), `"most" is not majority, any, all or a number`},
		{"down_when zero", cluster("", "  health: {down_when: 0}\n"), "is not majority"},
		{"down_when above observers", cluster("", "  health: {down_when: 4, observers: 3}\n"), "more than the 3 observers"},
		{"negative observers", cluster("", "  health: {observers: -1}\n"), "must not be negative"},
		{"source address", "healthcheck: {source_address: ns1.example.net}\n", "not an IP address"},
		{"unknown key", "cluster: {etcd: {endpoint: [\"http://127.0.0.1:2379\"]}}\n", `unknown key "cluster.etcd.endpoint"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.body), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
