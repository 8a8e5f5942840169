package dnssec

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// t0 is the tests' fake "now"; key times are set around it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// day is t0 moved by n days.
func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// writeKey generates a key of zone into dir with the given timing (or
// Generate's, when tm is nil) and writes its files.
func writeKey(t *testing.T, dir, zone string, alg uint8, flags uint16, tm *Timing) *Key {
	t.Helper()
	k, err := Generate(zone, alg, flags, day(-30))
	if err != nil {
		t.Fatal(err)
	}
	if tm != nil {
		k.Timing = *tm
	}
	if err := k.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	return k
}

// bindTool returns the path of a bind9-utils command, skipping the test
// when it is not installed (.ci/run installs it).
func bindTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install bind9-utils)", name)
	}
	return p
}

// run runs a command in dir and returns its standard output.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// load loads the keys of zone in dir, failing the test on error.
func load(t *testing.T, dir, zone string) *KeySet {
	t.Helper()
	ks, err := LoadKeys(dir, zone)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	return ks
}

// tags returns the key tags of keys, sorted.
func tags(keys []*Key) []uint16 {
	var out []uint16
	for _, k := range keys {
		out = append(out, k.Tag())
	}
	slices.Sort(out)
	return out
}

func dnskeyTags(keys []*dns.DNSKEY) []uint16 {
	var out []uint16
	for _, k := range keys {
		out = append(out, k.KeyTag())
	}
	slices.Sort(out)
	return out
}

func cdsTags(cds []*dns.CDS) []uint16 {
	var out []uint16
	for _, c := range cds {
		out = append(out, c.KeyTag)
	}
	slices.Sort(out)
	return out
}

func cdnskeyTags(c []*dns.CDNSKEY) []uint16 {
	var out []uint16
	for _, k := range c {
		out = append(out, k.KeyTag())
	}
	slices.Sort(out)
	return out
}

// signs checks that k's private key makes RRSIGs its DNSKEY verifies.
func signs(t *testing.T, k *Key) {
	t.Helper()
	rr, _ := dns.NewRR(k.DNSKEY.Hdr.Name + " 300 IN TXT \"signed\"")
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: rr.Header().Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 300},
		Algorithm:  k.Algorithm(),
		KeyTag:     k.Tag(),
		SignerName: k.DNSKEY.Hdr.Name,
		Inception:  uint32(day(-1).Unix()),
		Expiration: uint32(day(1).Unix()),
	}
	if err := sig.Sign(k.Signer, []dns.RR{rr}); err != nil {
		t.Fatalf("%s: sign: %v", k, err)
	}
	if err := sig.Verify(k.DNSKEY, []dns.RR{rr}); err != nil {
		t.Fatalf("%s: its signature does not verify with its DNSKEY: %v", k, err)
	}
}

// TestLoadBINDKeys loads keys made by dnssec-keygen: a CSK (-f KSK, the
// only key), a KSK and ZSK pair, and Ed25519; each signs what its role
// says, with its timing read from the .private file.
func TestLoadBINDKeys(t *testing.T) {
	keygen := bindTool(t, "dnssec-keygen")
	at := formatTime(day(-10))

	t.Run("CSK", func(t *testing.T) {
		dir := t.TempDir()
		name := strings.TrimSpace(run(t, dir, keygen, "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-P", at, "-A", at, "example.com"))
		ks := load(t, dir, "Example.COM")
		if len(ks.Keys) != 1 {
			t.Fatalf("loaded %d keys, want 1", len(ks.Keys))
		}
		k := ks.Keys[0]
		if k.Name() != name || !k.SEP() || k.Legacy || !k.Publish.Equal(day(-10)) || !k.Activate.Equal(day(-10)) || k.Created.IsZero() {
			t.Errorf("key %s (file %s): SEP %v, legacy %v, timing %+v", k, name, k.SEP(), k.Legacy, k.Timing)
		}
		if _, ok := k.Signer.(*ecdsa.PrivateKey); !ok {
			t.Errorf("signer is %T, want *ecdsa.PrivateKey", k.Signer)
		}
		for _, forDNSKEY := range []bool{true, false} {
			if got := ks.Signing(t0, forDNSKEY); len(got) != 1 || got[0] != k {
				t.Errorf("Signing(forDNSKEY=%v) = %v, want the CSK", forDNSKEY, got)
			}
		}
		if got := ks.Published(t0); len(got) != 1 || got[0] != k.DNSKEY {
			t.Errorf("Published = %v", got)
		}
		if p := ks.Check(t0, dns.ECDSAP256SHA256); len(p) != 0 {
			t.Errorf("Check: %v", p)
		}
		signs(t, k)
		if got := ks.Signing(day(-11), false); len(got) != 0 {
			t.Errorf("before Activate, Signing = %v", got)
		}
	})

	t.Run("KSK and ZSK", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, keygen, "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-P", at, "-A", at, "example.com")
		run(t, dir, keygen, "-q", "-a", "ECDSAP256SHA256", "-P", at, "-A", at, "example.com")
		ks := load(t, dir, "example.com.")
		if len(ks.Keys) != 2 {
			t.Fatalf("loaded %d keys, want 2", len(ks.Keys))
		}
		var ksk, zsk *Key
		for _, k := range ks.Keys {
			if k.SEP() {
				ksk = k
			} else {
				zsk = k
			}
		}
		if ksk == nil || zsk == nil {
			t.Fatalf("keys %v: want one KSK and one ZSK", ks.Keys)
		}
		if got := ks.Signing(t0, true); len(got) != 1 || got[0] != ksk {
			t.Errorf("DNSKEY signers = %v, want the KSK %s", got, ksk)
		}
		if got := ks.Signing(t0, false); len(got) != 1 || got[0] != zsk {
			t.Errorf("zone signers = %v, want the ZSK %s", got, zsk)
		}
		if got := dnskeyTags(ks.Published(t0)); !slices.Equal(got, tags(ks.Keys)) {
			t.Errorf("DNSKEY RRset tags %v, want both %v", got, tags(ks.Keys))
		}
		if got := ks.DS(t0); len(got) != 1 || got[0].KeyTag != ksk.Tag() {
			t.Errorf("DS = %v, want the KSK's alone", got)
		}
		if got := cdnskeyTags(ks.CDNSKEY(t0)); !slices.Equal(got, []uint16{ksk.Tag()}) {
			t.Errorf("CDNSKEY tags %v, want the KSK's", got)
		}
		signs(t, ksk)
		signs(t, zsk)
	})

	t.Run("ED25519", func(t *testing.T) {
		dir := t.TempDir()
		run(t, dir, keygen, "-q", "-a", "ED25519", "-f", "KSK", "-P", at, "-A", at, "example.com")
		ks := load(t, dir, "example.com")
		k := ks.Keys[0]
		if _, ok := k.Signer.(ed25519.PrivateKey); !ok || k.Algorithm() != dns.ED25519 {
			t.Fatalf("%s: signer %T", k, k.Signer)
		}
		if p := ks.Check(t0, dns.ED25519); len(p) != 0 {
			t.Errorf("Check: %v", p)
		}
		if p := ks.Check(t0, dns.ECDSAP256SHA256); len(p) != 1 || !strings.Contains(p[0].Msg, "algorithm ECDSAP256SHA256") {
			t.Errorf("Check for a zone set to ECDSAP256SHA256 = %v, want that no key uses it", p)
		}
		signs(t, k)
	})
}

// TestSettimeTiming reads every timing field dnssec-settime writes.
func TestSettimeTiming(t *testing.T) {
	keygen := bindTool(t, "dnssec-keygen")
	settime := bindTool(t, "dnssec-settime")
	dir := t.TempDir()
	name := strings.TrimSpace(run(t, dir, keygen, "-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "example.com"))
	run(t, dir, settime, "-P", formatTime(day(1)), "-A", formatTime(day(2)), "-I", formatTime(day(3)), "-D", formatTime(day(4)),
		"-P", "sync", formatTime(day(5)), "-D", "sync", formatTime(day(6)), name)
	k := load(t, dir, "example.com").Keys[0]
	want := Timing{Created: k.Created, Publish: day(1), Activate: day(2), Inactive: day(3), Delete: day(4), SyncPublish: day(5), SyncDelete: day(6)}
	if k.Timing != want {
		t.Errorf("timing %+v\nwant   %+v", k.Timing, want)
	}
	// Unset fields: -A none leaves a key that never signs, as in BIND.
	run(t, dir, settime, "-A", "none", "-P", "none", name)
	k = load(t, dir, "example.com").Keys[0]
	if !k.Activate.IsZero() || !k.Publish.IsZero() || k.Active(day(3)) || k.Published(day(3)) {
		t.Errorf("after -A none -P none: timing %+v, active %v, published %v", k.Timing, k.Active(day(3)), k.Published(day(3)))
	}
}

// TestOurKeysReadByBIND writes a CSK as `meridian dnssec keygen` does and
// has BIND's tools read it: dnssec-settime shows our timing, and the DS
// dnssec-dsfromkey -2 computes is the one DS returns.
func TestOurKeysReadByBIND(t *testing.T) {
	settime := bindTool(t, "dnssec-settime")
	dsfromkey := bindTool(t, "dnssec-dsfromkey")
	for _, alg := range Algorithms {
		dir := t.TempDir()
		k, err := Generate("Example.com", alg, 257, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(k.PrivateFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", k.PrivateFile, fi.Mode().Perm(), err)
		}
		if err := k.WriteFiles(dir); err == nil {
			t.Errorf("a second WriteFiles of %s overwrote it", k)
		}
		out := run(t, dir, settime, "-up", "all", k.Name())
		for _, want := range []string{
			fmt.Sprintf("Created: %d", t0.Unix()), fmt.Sprintf("Publish: %d", t0.Unix()),
			fmt.Sprintf("Activate: %d", t0.Unix()), "Inactive: UNSET", "Delete: UNSET",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: dnssec-settime -up all shows no %q:\n%s", dns.AlgorithmToString[alg], want, out)
			}
		}
		ks := load(t, dir, "example.com")
		if p := ks.Check(t0, alg); len(p) != 0 {
			t.Errorf("Check: %v", p)
		}
		signs(t, ks.Keys[0])
		bind := strings.Fields(run(t, dir, dsfromkey, "-2", k.Name()+".key"))
		ds := ks.DS(t0)
		if len(ds) != 1 {
			t.Fatalf("DS = %v, want one", ds)
		}
		if ours := strings.Fields(FormatDS(ds[0])); !slices.Equal(ours, bind) {
			t.Errorf("%s: DS %q, dnssec-dsfromkey -2 says %q", dns.AlgorithmToString[alg], ours, bind)
		}
	}
}

// TestLdnsKeys loads a key without timing metadata (private-key format
// v1.2, as ldns-keygen writes): as in BIND it is published and signs at
// all times.
func TestLdnsKeys(t *testing.T) {
	dir := t.TempDir()
	if p, err := exec.LookPath("ldns-keygen"); err == nil {
		run(t, dir, p, "-a", "ECDSAP256SHA256", "-k", "example.com")
		for _, ds := range must(filepath.Glob(filepath.Join(dir, "*.ds"))) {
			os.Remove(ds)
		}
	} else {
		k := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, &Timing{})
		b := must(os.ReadFile(k.PrivateFile))
		if err := os.WriteFile(k.PrivateFile, []byte(strings.Replace(string(b), "v1.3", "v1.2", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ks := load(t, dir, "example.com")
	k := ks.Keys[0]
	if !k.Legacy {
		t.Fatalf("%s: not legacy: %+v", k, k.Timing)
	}
	for _, at := range []time.Time{day(-1000), t0, day(1000)} {
		if !k.Published(at) || !k.Active(at) || len(ks.Signing(at, false)) != 1 || len(ks.CDS(at)) != 1 {
			t.Errorf("at %s the legacy key is not published, signing and offered as CDS", at)
		}
	}
	if !ks.NextEvent(t0).IsZero() {
		t.Errorf("NextEvent = %s, want none", ks.NextEvent(t0))
	}
	signs(t, k)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestRollover walks a pre-publish CSK rollover (RFC 7583) through every
// key state with a fake clock. The old key K1 signs until day 20 and goes
// from the DNSKEY RRset at day 30; the new key K2 is published at day 10,
// offered to the parent (SyncPublish) at day 15, signs from day 20; K1's
// CDS goes at day 20 (SyncDelete). At each stage the DNSKEY RRset, the
// signers, CDS and CDNSKEY and the next event are checked.
func TestRollover(t *testing.T) {
	dir := t.TempDir()
	k1 := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, &Timing{
		Created: day(-1), Publish: day(0), Activate: day(0), Inactive: day(20), Delete: day(30), SyncDelete: day(20),
	})
	k2 := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, &Timing{
		Created: day(9), Publish: day(10), Activate: day(20), SyncPublish: day(15),
	})
	ks := load(t, dir, "example.com")
	one, two, both := []uint16{k1.Tag()}, []uint16{k2.Tag()}, tags([]*Key{k1, k2})
	for _, st := range []struct {
		name                string
		at                  time.Time
		dnskey, signers, ds []uint16
		next                time.Time
	}{
		{"before anything", day(-1), nil, nil, nil, day(0)},
		{"K1 alone", day(5), one, one, one, day(10)},
		{"K1 at its Publish and Activate", day(0), one, one, one, day(10)},
		{"K2 pre-published", day(12), both, one, one, day(15)},
		{"K2 offered to the parent", day(15), both, one, both, day(20)},
		{"K2 signs, K1 retired", day(20), both, two, two, day(30)},
		{"K1 still published", day(29), both, two, two, day(30)},
		{"K1 deleted", day(30), two, two, two, time.Time{}},
		{"long after", day(400), two, two, two, time.Time{}},
	} {
		if got := dnskeyTags(ks.Published(st.at)); !slices.Equal(got, st.dnskey) {
			t.Errorf("%s: DNSKEY RRset %v, want %v", st.name, got, st.dnskey)
		}
		for _, forDNSKEY := range []bool{true, false} {
			if got := tags(ks.Signing(st.at, forDNSKEY)); !slices.Equal(got, st.signers) {
				t.Errorf("%s: signers (forDNSKEY=%v) %v, want %v", st.name, forDNSKEY, got, st.signers)
			}
		}
		if got := cdsTags(ks.CDS(st.at)); !slices.Equal(got, st.ds) {
			t.Errorf("%s: CDS %v, want %v", st.name, got, st.ds)
		}
		if got := cdnskeyTags(ks.CDNSKEY(st.at)); !slices.Equal(got, st.ds) {
			t.Errorf("%s: CDNSKEY %v, want %v", st.name, got, st.ds)
		}
		var dsTags []uint16
		for _, ds := range ks.DS(st.at) {
			dsTags = append(dsTags, ds.KeyTag)
		}
		slices.Sort(dsTags)
		if !slices.Equal(dsTags, st.ds) {
			t.Errorf("%s: DS %v, want %v", st.name, dsTags, st.ds)
		}
		if got := ks.NextEvent(st.at); !got.Equal(st.next) {
			t.Errorf("%s: NextEvent %s, want %s", st.name, got, st.next)
		}
		wantErr := st.signers == nil
		if p := ks.Check(st.at, dns.ECDSAP256SHA256); (len(p) > 0) != wantErr {
			t.Errorf("%s: Check = %v, want errors %v", st.name, p, wantErr)
		}
	}
}

// TestKSKZSKRoles checks the per-role fallback: while the ZSK is not yet
// active, the KSK signs everything, as a CSK.
func TestKSKZSKRoles(t *testing.T) {
	dir := t.TempDir()
	ksk := writeKey(t, dir, "example.com", dns.ED25519, 257, &Timing{Publish: day(0), Activate: day(0)})
	zsk := writeKey(t, dir, "example.com", dns.ED25519, 256, &Timing{Publish: day(0), Activate: day(10)})
	ks := load(t, dir, "example.com")
	if got := tags(ks.Signing(day(5), false)); !slices.Equal(got, []uint16{ksk.Tag()}) {
		t.Errorf("before the ZSK activates, zone signers %v, want the KSK", got)
	}
	if got := tags(ks.Signing(day(10), false)); !slices.Equal(got, []uint16{zsk.Tag()}) {
		t.Errorf("with the ZSK active, zone signers %v, want the ZSK", got)
	}
	if got := tags(ks.Signing(day(10), true)); !slices.Equal(got, []uint16{ksk.Tag()}) {
		t.Errorf("DNSKEY signers %v, want the KSK", got)
	}
	if got := cdsTags(ks.CDS(day(10))); !slices.Equal(got, []uint16{ksk.Tag()}) {
		t.Errorf("CDS %v, want the KSK's", got)
	}
}

// TestKeyProblems checks that each broken key directory is refused (or
// warned about) naming the file and what to do.
func TestKeyProblems(t *testing.T) {
	active := &Timing{Publish: day(-10), Activate: day(-10)}
	for _, tc := range []struct {
		name string
		// setup makes the keys directory's files.
		setup func(t *testing.T, dir string)
		// load is the LoadKeys error expected ("" for none); check the
		// Check problem expected at t0 otherwise.
		load, check, file string
		warning           bool
	}{
		{
			name: "no key file", setup: func(t *testing.T, dir string) {
				writeKey(t, dir, "example.org", dns.ECDSAP256SHA256, 257, active)
			},
			load: "no key of example.com.",
		},
		{
			name: "no active key", setup: func(t *testing.T, dir string) {
				writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, &Timing{Publish: day(-1), Activate: day(3)})
			},
			check: "no key of example.com. is active at 2026-03-01T12:00:00Z (the first, K",
		},
		{
			name: "only expired keys", setup: func(t *testing.T, dir string) {
				writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, &Timing{Publish: day(-30), Activate: day(-30), Inactive: day(-1)})
				writeKey(t, dir, "example.com", dns.ED25519, 257, &Timing{Publish: day(-30), Activate: day(-30), Inactive: day(-2), Delete: day(-1)})
			},
			check: "every key of example.com. is inactive at 2026-03-01T12:00:00Z (expired)",
		},
		{
			name: "key of another zone", setup: func(t *testing.T, dir string) {
				k := writeKey(t, dir, "example.org", dns.ECDSAP256SHA256, 257, active)
				for _, ext := range []string{".key", ".private"} {
					from := strings.TrimSuffix(k.File, ".key") + ext
					if err := os.Rename(from, strings.Replace(from, "Kexample.org.", "Kexample.com.", 1)); err != nil {
						t.Fatal(err)
					}
				}
			},
			load: "holds a key of example.org., not of example.com.", file: ".key",
		},
		{
			name: "malformed private", setup: func(t *testing.T, dir string) {
				k := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, active)
				b := must(os.ReadFile(k.PrivateFile))
				secret := strings.Fields(strings.Split(string(b), "PrivateKey: ")[1])[0]
				broken := strings.Replace(string(b), secret, secret[:10]+"!!!"+secret[13:], 1)
				if err := os.WriteFile(k.PrivateFile, []byte(broken), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			load: "malformed private key file", file: ".private",
		},
		{
			name: "missing private", setup: func(t *testing.T, dir string) {
				k := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, active)
				os.Remove(k.PrivateFile)
			},
			load: "no private key file Kexample.com.+013+", file: ".key",
		},
		{
			name: "mismatched pair", setup: func(t *testing.T, dir string) {
				a := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, active)
				b := writeKey(t, t.TempDir(), "example.com", dns.ECDSAP256SHA256, 257, active)
				if err := os.WriteFile(a.PrivateFile, must(os.ReadFile(b.PrivateFile)), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			load: "the private key does not match the public key", file: ".private",
		},
		{
			name: "unsupported algorithm", setup: func(t *testing.T, dir string) {
				key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP384SHA384}
				pk := must(key.Generate(384))
				base := filepath.Join(dir, fmt.Sprintf("Kexample.com.+014+%05d", key.KeyTag()))
				os.WriteFile(base+".key", []byte(key.String()+"\n"), 0o644)
				os.WriteFile(base+".private", []byte(key.PrivateKeyString(pk)), 0o600)
			},
			load: "algorithm 14 (ECDSAP384SHA384) is not supported: use ECDSAP256SHA256 (13) or ED25519 (15)", file: ".key",
		},
		{
			name: "private readable by others", setup: func(t *testing.T, dir string) {
				k := writeKey(t, dir, "example.com", dns.ECDSAP256SHA256, 257, active)
				if err := os.Chmod(k.PrivateFile, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			check: "the private key may be read by other users (mode 0644): chmod 600", file: ".private", warning: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			ks, err := LoadKeys(dir, "example.com")
			if tc.load != "" {
				if err == nil || !strings.Contains(err.Error(), tc.load) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tc.file) {
					t.Fatalf("LoadKeys error %v; want one naming a file (%s) in %s and saying %q", err, tc.file, dir, tc.load)
				}
				if strings.Contains(err.Error(), "PrivateKey") {
					t.Errorf("the error quotes the private key file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := ks.Check(t0, 0)
			if len(p) != 1 || !strings.Contains(p[0].Msg, tc.check) || p[0].Warning != tc.warning ||
				!strings.HasPrefix(p[0].File, dir) || tc.file == "" && p[0].File != dir || !strings.HasSuffix(p[0].File, tc.file) {
				t.Fatalf("Check = %+v; want one problem (warning %v) about %s saying %q", p, tc.warning, tc.file, tc.check)
			}
		})
	}
}

// TestNoPrivateKeyInStrings formats keys every way a log line might, and
// looks for the private key.
func TestNoPrivateKeyInStrings(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "example.com", dns.ED25519, 257, nil)
	b := must(os.ReadFile(k.PrivateFile))
	secret := strings.Fields(strings.Split(string(b), "PrivateKey: ")[1])[0]
	ks := load(t, dir, "example.com")
	for _, s := range []string{
		fmt.Sprint(ks.Keys[0]), fmt.Sprintf("%+v", ks.Keys[0]), fmt.Sprintf("%#v", ks.Keys[0]),
		fmt.Sprint(ks), fmt.Sprintf("%+v", ks), ks.Keys[0].LogValue().String(),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprint(ks.Keys[0].Signer)) {
			t.Errorf("a formatted key shows the private key: %s", s)
		}
	}
}
