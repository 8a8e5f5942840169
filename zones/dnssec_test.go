package zones

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/meridian-dns/meridian/dnssec"
)

// makeKey writes a CSK of example.com. into dir, active from now.
func makeKey(t *testing.T, dir string, alg uint8) *dnssec.Key {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k, err := dnssec.Generate("example.com.", alg, 257, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDNSSECSettings loads a signed zone: the keys directory is relative
// to the zone file, the algorithm defaults to ECDSAP256SHA256 and denial
// to compact, and the zone carries its loaded keys.
func TestDNSSECSettings(t *testing.T) {
	dir := t.TempDir()
	k := makeKey(t, filepath.Join(dir, "keys"), dns.ECDSAP256SHA256)
	writeFile(t, dir, "z.yaml", header+"dnssec:\n  enabled: true\n  keys: keys\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := snap.Zone("example.com.").DNSSEC
	if d == nil {
		t.Fatal("the zone carries no DNSSEC settings")
	}
	if d.KeysDir != filepath.Join(dir, "keys") || d.Algorithm != dns.ECDSAP256SHA256 || d.Denial != DenialCompact {
		t.Errorf("settings %+v", d)
	}
	if len(d.Keys.Keys) != 1 || d.Keys.Keys[0].Tag() != k.Tag() {
		t.Errorf("keys %v, want %s", d.Keys, k)
	}

	ed := t.TempDir()
	makeKey(t, ed, dns.ED25519)
	writeFile(t, dir, "z.yaml", header+"dnssec: {enabled: true, keys: "+ed+", algorithm: ED25519, denial: compact}\n")
	snap, err = Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := snap.Zone("example.com.").DNSSEC; d == nil || d.Algorithm != dns.ED25519 || d.KeysDir != ed {
		t.Errorf("absolute keys directory, ED25519: %+v", d)
	}

	writeFile(t, dir, "z.yaml", header+"dnssec: {enabled: false, keys: nowhere}\n")
	snap, err = Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := snap.Zone("example.com.").DNSSEC; d != nil {
		t.Errorf("a zone with dnssec.enabled false carries %+v", d)
	}
}

// TestDNSSECErrors holds mistakes in the dnssec: block and its keys to
// errors at their line, naming the key file where there is one.
func TestDNSSECErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		// keys prepares dir/keys.
		keys func(t *testing.T, keys string)
		want []string
	}{
		{
			name:  "unknown key",
			block: "dnssec:\n  enabled: true\n  keys: keys\n  algoritm: ED25519\n",
			want:  []string{"z.yaml:7: unknown key \"algoritm\"", "algorithm"},
		},
		{
			name:  "unsupported algorithm",
			block: "dnssec:\n  enabled: true\n  keys: keys\n  algorithm: RSASHA256\n",
			want:  []string{"z.yaml:7: dnssec.algorithm: algorithm \"RSASHA256\" is not supported: use ECDSAP256SHA256 (13) or ED25519 (15)"},
		},
		{
			name:  "unsupported denial",
			block: "dnssec:\n  enabled: true\n  keys: keys\n  denial: nsec3\n",
			want:  []string{"z.yaml:7: dnssec.denial: \"nsec3\" is not supported: use compact"},
		},
		{
			name:  "no keys directory given",
			block: "dnssec:\n  enabled: true\n",
			want:  []string{"z.yaml:5: dnssec.keys: a signed zone needs its keys directory", "meridian dnssec keygen example.com."},
		},
		{
			name:  "keys directory missing",
			block: "dnssec: {enabled: true, keys: keys}\n",
			keys:  func(t *testing.T, keys string) {},
			want:  []string{"z.yaml:4: dnssec.keys: ", "keys: the keys directory cannot be read: no such file or directory"},
		},
		{
			name:  "keys directory is a file",
			block: "dnssec: {enabled: true, keys: keys}\n",
			keys: func(t *testing.T, keys string) {
				os.WriteFile(keys, nil, 0o644)
			},
			want: []string{"z.yaml:4: dnssec.keys: ", "keys: the keys directory is not a directory"},
		},
		{
			name:  "malformed key file",
			block: "dnssec:\n  enabled: true\n  keys: keys\n",
			keys: func(t *testing.T, keys string) {
				k := makeKey(t, keys, dns.ECDSAP256SHA256)
				os.WriteFile(k.File, []byte("example.com. IN DNSKEY 257 3 13 !!!\n"), 0o644)
			},
			want: []string{"z.yaml:6: dnssec.keys: ", ".key: malformed public key: not 64 bytes of base64 as ECDSAP256SHA256 needs"},
		},
		{
			name:  "no active key",
			block: "dnssec:\n  enabled: true\n  keys: keys\n",
			keys: func(t *testing.T, keys string) {
				k := makeKey(t, keys, dns.ECDSAP256SHA256)
				os.Remove(k.File)
				os.Remove(k.PrivateFile)
				k.Activate = time.Now().AddDate(1, 0, 0)
				if err := k.WriteFiles(keys); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"z.yaml:6: dnssec.keys: ", "no key of example.com. is active at"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keys := filepath.Join(dir, "keys")
			if tc.keys != nil {
				tc.keys(t, keys)
			} else {
				makeKey(t, keys, dns.ECDSAP256SHA256)
			}
			writeFile(t, dir, "z.yaml", header+tc.block)
			_, err := Load(dir, nil)
			if err == nil {
				t.Fatal("the zone loads")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
		})
	}
}

// TestDNSSECKeyWarning makes a private key file readable by others a
// warning of the zone, naming the file.
func TestDNSSECKeyWarning(t *testing.T) {
	dir := t.TempDir()
	k := makeKey(t, filepath.Join(dir, "keys"), dns.ED25519)
	if err := os.Chmod(k.PrivateFile, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "z.yaml", header+"dnssec: {enabled: true, keys: keys, algorithm: ED25519}\n")
	snap, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := snap.Zone("example.com.").Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], k.PrivateFile+": ") || !strings.Contains(w[0], "chmod 600") {
		t.Errorf("warnings %q, want one about %s", w, k.PrivateFile)
	}
}

// TestDNSSECReload reloads the keys with the zone: a new key is seen, an
// unchanged keys directory is no change, and a broken key file fails the
// reload, naming the file, while the previous snapshot keeps serving.
func TestDNSSECReload(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	first := makeKey(t, keys, dns.ECDSAP256SHA256)
	writeFile(t, dir, "z.yaml", header+"dnssec: {enabled: true, keys: keys}\n")
	s, _ := newLoggedStore(t, dir)
	if changed, err := s.Reload(); changed || err != nil {
		t.Fatalf("reload of unchanged zone and keys: changed %v, %v", changed, err)
	}
	if dirs := s.watchDirs(); !strings.Contains(strings.Join(dirs, " "), keys) {
		t.Errorf("watched directories %v lack the keys directory", dirs)
	}

	second := makeKey(t, keys, dns.ECDSAP256SHA256)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("reload after a new key: changed %v, %v", changed, err)
	}
	good := s.Current()
	if n := len(good.Zone("example.com.").DNSSEC.Keys.Published(time.Now())); n != 2 {
		t.Fatalf("after the reload the DNSKEY RRset has %d keys, want 2", n)
	}

	if err := os.WriteFile(second.PrivateFile, []byte("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := s.Reload()
	if changed || err == nil || !strings.Contains(err.Error(), second.PrivateFile) {
		t.Fatalf("reload with a broken key file: changed %v, error %v; want an error naming %s", changed, err, second.PrivateFile)
	}
	if s.Current() != good {
		t.Fatal("a failed reload replaced the snapshot")
	}
	if got := good.Zone("example.com.").DNSSEC.Keys.Keys; len(got) != 2 || got[0].Signer == nil || got[1].Signer == nil {
		t.Errorf("the snapshot serving lost its keys: %v", got)
	}

	if err := os.Remove(first.PrivateFile); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(); err == nil || !strings.Contains(err.Error(), first.File) {
		t.Fatalf("reload with a missing private key file: %v; want an error naming %s", err, first.File)
	}
	if s.Current() != good {
		t.Fatal("a failed reload replaced the snapshot")
	}
}

// TestDNSSECDocExamplesLoad loads the zone files of docs/dnssec.md, which
// are text blocks since a signed zone needs its keys: each is loaded with
// a key made in the keys directory it names.
func TestDNSSECDocExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../docs/dnssec.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, block := range strings.Split(string(doc), "```text\n")[1:] {
		body, _, _ := strings.Cut(block, "```")
		if !strings.HasPrefix(body, "zone:") {
			continue
		}
		n++
		dir := t.TempDir()
		writeFile(t, dir, "zone.yaml", body)
		var f struct {
			DNSSEC DNSSECFile `yaml:"dnssec"`
		}
		if err := yaml.Unmarshal([]byte(body), &f); err != nil {
			t.Fatal(err)
		}
		alg, err := dnssec.AlgorithmNamed(f.DNSSEC.Algorithm)
		if err != nil {
			t.Fatal(err)
		}
		makeKey(t, filepath.Join(dir, f.DNSSEC.Keys), alg)
		snap, err := Load(dir, nil)
		if err != nil {
			t.Errorf("docs/dnssec.md example %d does not load: %v", n, err)
			continue
		}
		if snap.Zone("example.com.").DNSSEC == nil {
			t.Errorf("docs/dnssec.md example %d is not signed", n)
		}
	}
	if n == 0 {
		t.Fatal("docs/dnssec.md has no zone file example")
	}
}
