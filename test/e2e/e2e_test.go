// Package e2e tests Meridian from the outside: the real binary, started on
// a free loopback port, queried with dig and driven with signals, and (in
// reload_test.go) the zone store and DNS front end wired together in
// process under concurrent reloads.
package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// meridianBin is the binary built once by TestMain.
var meridianBin string

// moduleRoot is the directory holding go.mod.
var moduleRoot string

const (
	// startTimeout bounds how long a server may take to log that it started.
	startTimeout = 10 * time.Second
	// serverID is the server_id of every test configuration, returned in NSID.
	serverID = "e2e-test-1"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	moduleRoot = root
	dir, err := os.MkdirTemp("", "meridian-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	meridianBin = filepath.Join(dir, "meridian")
	build := exec.Command("go", "build", "-o", meridianBin, "./cmd/meridian")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/meridian: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findModuleRoot asks the go command where go.mod is, falling back to the
// package's position in the tree (test/e2e).
func findModuleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		if mod := strings.TrimSpace(string(out)); mod != "" && mod != os.DevNull {
			return filepath.Dir(mod), nil
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the module root: %w", err)
	}
	return root, nil
}

// copyDir copies the regular files of src into dst, which it creates.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// instance is one configuration directory: meridian.yaml and a private
// copy of the demo zones that a test may edit.
type instance struct {
	dir    string
	config string
	zones  string
}

// newInstance writes a configuration listening on 127.0.0.1:0 over a copy
// of testdata/demo/zones.
func newInstance(t *testing.T) *instance {
	t.Helper()
	dir := t.TempDir()
	in := &instance{
		dir:    dir,
		config: filepath.Join(dir, "meridian.yaml"),
		zones:  filepath.Join(dir, "zones"),
	}
	copyDir(t, filepath.Join(moduleRoot, "testdata", "demo", "zones"), in.zones)
	cfg := fmt.Sprintf(`listen: ["127.0.0.1:0"]
zones: %q
http:
  listen: 127.0.0.1:0
log:
  level: info
  format: text
server_id: %s
`, in.zones, serverID)
	if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

// zoneFile returns the path of a zone file of the instance.
func (in *instance) zoneFile(name string) string { return filepath.Join(in.zones, name) }

// editZone replaces old (which must occur exactly once) with new in a zone
// file, writing a temporary file beside it and renaming it into place as
// deploy tools do, and returns the 1-based line where new starts.
func (in *instance) editZone(t *testing.T, name, old, new string) int {
	t.Helper()
	return editFile(t, in.zoneFile(name), old, new)
}

// editFile is editZone for any file.
func editFile(t *testing.T, path, old, new string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	if n := strings.Count(src, old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once", path, old, n)
	}
	i := strings.Index(src, old)
	writeAtomic(t, path, []byte(src[:i]+new+src[i+len(old):]))
	return strings.Count(src[:i], "\n") + 1
}

// writeAtomic replaces path with data by writing a hidden temporary file in
// the same directory (the loader ignores dot files) and renaming it.
func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// cleanEnv is the environment without MERIDIAN_* variables, so that the
// machine running the tests cannot override the test configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MERIDIAN_") {
			env = append(env, kv)
		}
	}
	return env
}

// logLines collects a process's stderr line by line and lets tests wait,
// with a bound, for a line they expect.
type logLines struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{} // closed and replaced whenever a line arrives
	closed bool          // stderr reached EOF
}

func newLogLines() *logLines { return &logLines{notify: make(chan struct{})} }

func (l *logLines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		close(l.notify)
		l.notify = make(chan struct{})
		l.mu.Unlock()
	}
	l.mu.Lock()
	l.closed = true
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// mark returns the number of lines seen so far, to wait for lines after it.
func (l *logLines) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// String returns every line seen, for failure messages.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns the first line at index from or later that match accepts.
// It fails when the output ends or timeout passes without one.
func (l *logLines) waitFor(from int, timeout time.Duration, match func(string) bool) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if match(l.lines[i]) {
				line := l.lines[i]
				l.mu.Unlock()
				return line, nil
			}
		}
		from = len(l.lines)
		closed, notify := l.closed, l.notify
		l.mu.Unlock()
		if closed {
			return "", errors.New("the process closed its output")
		}
		select {
		case <-notify:
		case <-deadline.C:
			return "", fmt.Errorf("no such line within %v", timeout)
		}
	}
}

// process is a running `meridian serve`.
type process struct {
	cmd  *exec.Cmd
	log  *logLines
	addr netip.AddrPort
	done chan struct{} // closed when the process has exited
	err  error         // the result of Wait, valid once done is closed
}

// listenRe finds the listen=[...] attribute of the started line; slog quotes
// the value when it holds more than one address.
var listenRe = regexp.MustCompile(`\blisten=("[^"]*"|\S+)`)

// startServer runs `meridian serve` on the instance's configuration and
// waits for its "meridian started" line, from which it takes the bound
// address. The process is killed when the test ends if it is still running.
func startServer(t *testing.T, in *instance) *process {
	t.Helper()
	return startProcess(t, in.dir, "serve", "--config", in.config)
}

// startProcess runs meridian with args in dir and waits for it to say it
// has started, with the bound address.
func startProcess(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(meridianBin, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: newLogLines(), done: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		p.log.read(stderr)
		close(readDone)
	}()
	go func() {
		// Wait closes the pipe, so it must run after the reader is done.
		<-readDone
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("meridian log:\n%s", p.log)
		}
	})

	line, err := p.log.waitFor(0, startTimeout, func(s string) bool {
		return strings.Contains(s, `msg="meridian started"`)
	})
	if err != nil {
		t.Fatalf("waiting for meridian to start: %v\nlog:\n%s", err, p.log)
	}
	m := listenRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no listen=[...] in the started line: %s", line)
	}
	list := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(m[1], `"`), "["), "]")
	for _, f := range strings.Fields(list) {
		if ap, err := netip.ParseAddrPort(f); err == nil && ap.Addr().Is4() {
			p.addr = ap
			break
		}
	}
	if !p.addr.IsValid() || !p.addr.Addr().IsLoopback() || p.addr.Port() == 0 {
		t.Fatalf("no bound loopback address in the started line: %s", line)
	}
	return p
}

// signal sends sig to the process.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// exchange sends m to addr over network ("udp" or "tcp") with the miekg/dns
// client and returns the reply.
func exchange(t *testing.T, addr netip.AddrPort, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("%s query %s: %v", network, m.Question[0].String(), err)
	}
	return r
}

// requireDig skips the test when dig is not installed.
func requireDig(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig is not on PATH")
	}
}

// digReply is dig's output, parsed.
type digReply struct {
	status     string
	flags      []string
	transport  string // "UDP" or "TCP", from the ;; SERVER: line
	nsid       string
	answer     []dns.RR
	authority  []dns.RR
	additional []dns.RR
	raw        string
}

func (r *digReply) hasFlag(f string) bool { return slices.Contains(r.flags, f) }

var (
	digStatusRe = regexp.MustCompile(`status: ([A-Z]+),`)
	digFlagsRe  = regexp.MustCompile(`^;; flags:([^;]*);`)
	digServerRe = regexp.MustCompile(`^;; SERVER: .*\((UDP|TCP)\)`)
	digNSIDRe   = regexp.MustCompile(`^; NSID: .*\("(.*)"\)`)
)

// dig queries the server at addr with dig and parses its reply. args are
// passed after the server options (name, type, +tcp, +nsid, ...).
func dig(t *testing.T, addr netip.AddrPort, args ...string) *digReply {
	t.Helper()
	r, err := tryDig(addr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryDig is dig without failing the test, for polling.
func tryDig(addr netip.AddrPort, args ...string) (*digReply, error) {
	full := append([]string{"@" + addr.Addr().String(), "-p", fmt.Sprint(addr.Port()),
		"+norec", "+time=2", "+tries=1"}, args...)
	out, err := exec.Command("dig", full...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("dig %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return parseDig(string(out))
}

// parseDig reads dig's default output: header, flags, NSID and the records
// of the answer, authority and additional sections.
func parseDig(out string) (*digReply, error) {
	r := &digReply{raw: out}
	var section *[]dns.RR
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			if m := digStatusRe.FindStringSubmatch(line); m != nil {
				r.status = m[1]
			}
		case digFlagsRe.MatchString(line):
			r.flags = strings.Fields(digFlagsRe.FindStringSubmatch(line)[1])
		case digServerRe.MatchString(line):
			r.transport = digServerRe.FindStringSubmatch(line)[1]
		case digNSIDRe.MatchString(line):
			r.nsid = digNSIDRe.FindStringSubmatch(line)[1]
		case line == ";; ANSWER SECTION:":
			section = &r.answer
		case line == ";; AUTHORITY SECTION:":
			section = &r.authority
		case line == ";; ADDITIONAL SECTION:":
			section = &r.additional
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, ";"):
			section = nil
		case section != nil:
			rr, err := dns.NewRR(line)
			if err != nil {
				return nil, fmt.Errorf("parsing dig record %q: %v\n%s", line, err, out)
			}
			*section = append(*section, rr)
		}
	}
	if r.status == "" {
		return nil, fmt.Errorf("no reply header in dig output:\n%s", out)
	}
	if strings.Contains(out, "reports malformed message packet") || strings.Contains(out, "extra bytes at end") {
		return nil, fmt.Errorf("dig found the reply malformed:\n%s", out)
	}
	return r, nil
}

// rrKeys renders records as "owner TYPE rdata" without TTL and class,
// sorted, so sections compare order-insensitively.
func rrKeys(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		rdata := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, strings.ToLower(h.Name)+" "+dns.TypeToString[h.Rrtype]+" "+rdata)
	}
	slices.Sort(out)
	return out
}

// sortedCopy returns want sorted, for comparison with rrKeys.
func sortedCopy(want []string) []string {
	out := slices.Clone(want)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func TestServeAnswers(t *testing.T) {
	requireDig(t)
	t.Parallel()
	p := startServer(t, newInstance(t))

	tests := []struct {
		name      string
		args      []string
		status    string
		aa        bool
		transport string
		answer    []string
		authority []string
		// additional lists the expected additional records; nil means the
		// section is not checked.
		additional []string
		// service, when set, replaces the exact answer check: the answer
		// must hold the leading records of answer, then one or more A
		// records of www.example.com, each one of the service's endpoints.
		service bool
	}{
		{
			name: "A over UDP", args: []string{"mail.example.com", "A"},
			status: "NOERROR", aa: true, transport: "UDP",
			answer: []string{"mail.example.com. A 192.0.2.25"},
		},
		{
			name: "A over TCP", args: []string{"+tcp", "mail.example.com", "A"},
			status: "NOERROR", aa: true, transport: "TCP",
			answer: []string{"mail.example.com. A 192.0.2.25"},
		},
		{
			name: "service A over UDP", args: []string{"www.example.com", "A"},
			status: "NOERROR", aa: true, transport: "UDP", service: true,
		},
		{
			name: "service A over TCP", args: []string{"+tcp", "www.example.com", "A"},
			status: "NOERROR", aa: true, transport: "TCP", service: true,
		},
		{
			name: "AAAA in mixed case", args: []string{"MaIl.ExAmPlE.CoM", "AAAA"},
			status: "NOERROR", aa: true, transport: "UDP",
			answer: []string{"mail.example.com. AAAA 2001:db8::25"},
		},
		{
			name: "MX with additional addresses", args: []string{"example.com", "MX"},
			status: "NOERROR", aa: true, transport: "UDP",
			answer:     []string{"example.com. MX 10 mail.example.com."},
			additional: []string{"mail.example.com. A 192.0.2.25", "mail.example.com. AAAA 2001:db8::25"},
		},
		{
			name: "NXDOMAIN with SOA", args: []string{"nope.example.com", "A"},
			status: "NXDOMAIN", aa: true, transport: "UDP",
			authority: []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2026112901 7200 3600 1209600 300"},
		},
		{
			name: "NXDOMAIN over TCP", args: []string{"+tcp", "nope.example.com", "A"},
			status: "NXDOMAIN", aa: true, transport: "TCP",
			authority: []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2026112901 7200 3600 1209600 300"},
		},
		{
			name: "NODATA with SOA", args: []string{"mail.example.com", "MX"},
			status: "NOERROR", aa: true, transport: "UDP",
			authority: []string{"example.com. SOA ns1.example.com. hostmaster.example.com. 2026112901 7200 3600 1209600 300"},
		},
		{
			name: "referral below a delegation", args: []string{"foo.sub.example.com", "A"},
			status: "NOERROR", aa: false, transport: "UDP",
			authority:  []string{"sub.example.com. NS ns.sub.example.com."},
			additional: []string{"ns.sub.example.com. A 192.0.2.99"},
		},
		{
			name: "CNAME followed to a service", args: []string{"docs.example.com", "A"},
			status: "NOERROR", aa: true, transport: "UDP", service: true,
			answer: []string{"docs.example.com. CNAME www.example.com."},
		},
		{
			name: "CNAME to another zone", args: []string{"alias.example.net", "A"},
			status: "NOERROR", aa: true, transport: "UDP", service: true,
			answer: []string{"alias.example.net. CNAME www.example.com."},
		},
		{
			name: "records_file zone", args: []string{"example.net", "A"},
			status: "NOERROR", aa: true, transport: "UDP",
			answer: []string{"example.net. A 192.0.2.40"},
		},
		{
			name: "zone we do not serve", args: []string{"example.org", "A"},
			status: "REFUSED", aa: false, transport: "UDP",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := dig(t, p.addr, tc.args...)
			if r.status != tc.status {
				t.Errorf("status %s, want %s\n%s", r.status, tc.status, r.raw)
			}
			if !r.hasFlag("qr") {
				t.Errorf("qr flag missing: %v", r.flags)
			}
			if r.hasFlag("aa") != tc.aa {
				t.Errorf("aa flag %v, want %v (flags %v)", r.hasFlag("aa"), tc.aa, r.flags)
			}
			if r.hasFlag("ra") {
				t.Errorf("ra flag set by an authoritative-only server: %v", r.flags)
			}
			if r.hasFlag("tc") {
				t.Errorf("tc flag set on a small reply: %v", r.flags)
			}
			if r.transport != tc.transport {
				t.Errorf("dig used %s, want %s", r.transport, tc.transport)
			}
			if tc.service {
				checkServiceAnswer(t, r.answer, tc.answer)
			} else if got, want := rrKeys(r.answer), sortedCopy(tc.answer); !slices.Equal(got, want) {
				t.Errorf("answer\n got %q\nwant %q", got, want)
			}
			if got, want := rrKeys(r.authority), sortedCopy(tc.authority); !slices.Equal(got, want) {
				t.Errorf("authority\n got %q\nwant %q", got, want)
			}
			if tc.additional != nil {
				if got, want := rrKeys(r.additional), sortedCopy(tc.additional); !slices.Equal(got, want) {
					t.Errorf("additional\n got %q\nwant %q", got, want)
				}
			}
		})
	}

	t.Run("ANY is one RRset", func(t *testing.T) {
		t.Parallel()
		// RFC 8482: a minimal answer to ANY, so it cannot amplify.
		r := dig(t, p.addr, "example.com", "ANY")
		if r.status != "NOERROR" || !r.hasFlag("aa") || len(r.answer) == 0 {
			t.Fatalf("status %s flags %v answers %d, want an authoritative answer\n%s", r.status, r.flags, len(r.answer), r.raw)
		}
		for _, rr := range r.answer {
			if h := rr.Header(); h.Rrtype != r.answer[0].Header().Rrtype || !strings.EqualFold(h.Name, "example.com.") {
				t.Errorf("ANY answer holds more than one RRset: %q", rrKeys(r.answer))
				break
			}
		}
	})

	t.Run("AXFR is refused", func(t *testing.T) {
		t.Parallel()
		m := new(dns.Msg)
		m.SetAxfr("example.com.")
		r := exchange(t, p.addr, "tcp", m)
		if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("AXFR: %s with %d answers, want REFUSED and none", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	})

	t.Run("NSID", func(t *testing.T) {
		t.Parallel()
		r := dig(t, p.addr, "+nsid", "mail.example.com", "A")
		if r.status != "NOERROR" || r.nsid != serverID {
			t.Errorf("status %s nsid %q, want NOERROR and %q\n%s", r.status, r.nsid, serverID, r.raw)
		}
		r = dig(t, p.addr, "mail.example.com", "A")
		if r.nsid != "" {
			t.Errorf("NSID %q sent to a query that did not ask for it", r.nsid)
		}
	})
}

// wwwEndpoints are the IPv4 addresses of the www service of the demo zone;
// which of them answer depends on routing, not tested here.
var wwwEndpoints = map[string]bool{
	"192.0.2.10": true, "192.0.2.11": true, "198.51.100.10": true, "203.0.113.10": true, "198.51.100.30": true,
}

// checkServiceAnswer checks an answer that starts with the records lead (in
// order: a CNAME chain) and ends with the www service's A records.
func checkServiceAnswer(t *testing.T, answer []dns.RR, lead []string) {
	t.Helper()
	if len(answer) <= len(lead) {
		t.Errorf("answer %q: want %q then service addresses", rrKeys(answer), lead)
		return
	}
	if got := rrKeys(answer[:len(lead)]); !slices.Equal(got, sortedCopy(lead)) {
		t.Errorf("answer starts %q, want %q", got, lead)
	}
	for _, rr := range answer[len(lead):] {
		a, ok := rr.(*dns.A)
		if !ok || !strings.EqualFold(a.Hdr.Name, "www.example.com.") || !wwwEndpoints[a.A.String()] {
			t.Errorf("answer record %v is not an A record of a www.example.com endpoint", rr)
		}
	}
}

// mailLine is a record of the demo zone that the reload tests change, and
// brokenLine a replacement the master-file parser rejects.
const (
	mailLine   = "mail       IN A      192.0.2.25"
	brokenLine = "mail       IN A      192.0.2.999"
)

// check runs `meridian check` on the instance's configuration.
func check(in *instance) (stdout, stderr string, err error) {
	cmd := exec.Command(meridianBin, "check", "--config", in.config)
	cmd.Dir = in.dir
	cmd.Env = cleanEnv()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// checkFails runs `meridian check` and requires it to exit non-zero naming
// file and line (or the line after, where a YAML parser may notice a
// mistake).
func checkFails(t *testing.T, in *instance, file string, line int) {
	t.Helper()
	out, errOut, err := check(in)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("check of a broken zone: err %v, want a non-zero exit\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	for _, l := range []int{line, line + 1} {
		if strings.Contains(errOut, fmt.Sprintf("%s:%d: ", in.zoneFile(file), l)) {
			return
		}
	}
	t.Errorf("stderr does not name %s:%d:\n%s", in.zoneFile(file), line, errOut)
}

func TestCheck(t *testing.T) {
	t.Parallel()

	t.Run("valid", func(t *testing.T) {
		t.Parallel()
		in := newInstance(t)
		out, errOut, err := check(in)
		if err != nil {
			t.Fatalf("check failed: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
		}
		for _, want := range []string{
			"configuration " + in.config + ": ok",
			"zone example.com.: serial 2026112901",
			"zone example.net.:",
			in.zoneFile("example.com.yaml"),
			"2 zones",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("check output lacks %q:\n%s", want, out)
			}
		}
	})

	for _, tc := range []struct {
		name, file, old, new string
	}{
		{"record syntax", "example.com.yaml", mailLine, brokenLine},
		{"yaml syntax", "example.com.yaml", "ns: [ns1.example.com., ns2.example.com.]", "ns: [ns1.example.com., ns2.example.com."},
		{"unknown key", "example.com.yaml", "ttl: 3600", "tll: 3600"},
		{"records_file", "example.net.zone", "www      IN CNAME @", "www      IN CNAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t)
			line := in.editZone(t, tc.file, tc.old, tc.new)
			checkFails(t, in, tc.file, line)
		})
	}
}

// TestCheckRejectsRecordsWithoutRData checks that a record whose RDATA is
// missing is an error wherever it stands. An A record is four octets of
// address (RFC 1035 3.4.1) and a CNAME a domain name (3.3.1); the master
// file parser accepts an empty RDATA on the last line (as for dynamic
// update prerequisites), and a zone that keeps it sends records with
// RDLENGTH 0, which resolvers reject as malformed.
func TestCheckRejectsRecordsWithoutRData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, old, new string
	}{
		{"last line of records", "example.com.yaml",
			`  a.b.c      IN TXT    "deep name; b.c and c are empty non-terminals"`,
			`  a.b.c      IN TXT    "deep name; b.c and c are empty non-terminals"` + "\n  empty      IN A"},
		{"last line of records_file", "example.net.zone", "alias    IN CNAME www.example.com.", "alias    IN CNAME"},
		{"middle of records", "example.com.yaml", mailLine, "mail       IN A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := newInstance(t)
			line := in.editZone(t, tc.file, tc.old, tc.new)
			line += strings.Count(tc.new, "\n")
			checkFails(t, in, tc.file, line)
		})
	}
}

// mailA asks for mail.example.com A and returns the addresses in the answer.
func mailA(addr netip.AddrPort) ([]string, error) {
	r, err := tryDig(addr, "mail.example.com", "A")
	if err != nil {
		return nil, err
	}
	if r.status != "NOERROR" {
		return nil, fmt.Errorf("status %s\n%s", r.status, r.raw)
	}
	var out []string
	for _, rr := range r.answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, nil
}

// TestReloadOnSIGHUP edits a zone and sends SIGHUP. The zone file is a
// symbolic link to a file in a directory the zone watcher does not watch,
// ..data inside the zones directory (as with Kubernetes ConfigMaps; a link
// out of the zones directory is refused), so that the reload observed is
// the one SIGHUP asked for, not the watcher's.
func TestReloadOnSIGHUP(t *testing.T) {
	requireDig(t)
	t.Parallel()
	in := newInstance(t)
	data := filepath.Join(in.zones, "..data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(data, "example.com.yaml")
	if err := os.Rename(in.zoneFile("example.com.yaml"), target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, in.zoneFile("example.com.yaml")); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, in)

	if got, err := mailA(p.addr); err != nil || !slices.Equal(got, []string{"192.0.2.25"}) {
		t.Fatalf("before the edit: %v %v, want [192.0.2.25]", got, err)
	}

	editFile(t, target, mailLine, "mail       IN A      192.0.2.26")
	p.signal(t, syscall.SIGHUP)
	// The new answer is the observable effect of the reload: poll for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := mailA(p.addr)
		if err == nil && slices.Equal(got, []string{"192.0.2.26"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: still %v %v, want [192.0.2.26]\nlog:\n%s", got, err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := p.log.waitFor(0, 5*time.Second, func(s string) bool {
		return strings.Contains(s, `msg="zones reloaded"`) && strings.Contains(s, "reason=SIGHUP")
	}); err != nil {
		t.Errorf("no zones reloaded line: %v\nlog:\n%s", err, p.log)
	}

	mark := p.log.mark()
	line := editFile(t, target, "mail       IN A      192.0.2.26", brokenLine)
	p.signal(t, syscall.SIGHUP)
	where := fmt.Sprintf("%s:%d:", in.zoneFile("example.com.yaml"), line)
	logged, err := p.log.waitFor(mark, 5*time.Second, func(s string) bool {
		return strings.Contains(s, "level=ERROR") && strings.Contains(s, "zone reload failed")
	})
	if err != nil {
		t.Fatalf("no reload error logged for the broken zone: %v\nlog:\n%s", err, p.log)
	}
	if !strings.Contains(logged, where) {
		t.Errorf("the reload error does not name %s:\n%s", where, logged)
	}
	if got, err := mailA(p.addr); err != nil || !slices.Equal(got, []string{"192.0.2.26"}) {
		t.Errorf("after a broken edit: %v %v, want the previous [192.0.2.26]", got, err)
	}
	if r := dig(t, p.addr, "+tcp", "docs.example.com", "A"); r.status != "NOERROR" {
		t.Errorf("after a broken edit, docs.example.com: %s\n%s", r.status, r.raw)
	} else {
		checkServiceAnswer(t, r.answer, []string{"docs.example.com. CNAME www.example.com."})
	}
}

func TestSIGTERMExitsCleanly(t *testing.T) {
	t.Parallel()
	p := startServer(t, newInstance(t))
	// See the process answer before stopping it, so the test checks the
	// shutdown of a server that has been serving.
	m := new(dns.Msg)
	m.SetQuestion("mail.example.com.", dns.TypeA)
	if r := exchange(t, p.addr, "udp", m); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("before SIGTERM: %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	p.signal(t, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("meridian still running 5s after SIGTERM\nlog:\n%s", p.log)
	}
	if p.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\nlog:\n%s", p.err, p.log)
	}
	if _, err := p.log.waitFor(0, 0, func(s string) bool { return strings.Contains(s, "msg=stopped") }); err != nil {
		t.Errorf("no stopped line after SIGTERM: %v\nlog:\n%s", err, p.log)
	}
}
