package zones

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logBuffer collects a logger's output for tests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// take returns what was logged since the last call.
func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
}

func newLoggedStore(t *testing.T, dir string) (*Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := NewStore(dir, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

// TestReloadLogsEveryOutcome holds every reload to one log line, so that
// after a failed reload the next one says how it went even when nothing
// changed.
func TestReloadLogsEveryOutcome(t *testing.T) {
	dir := t.TempDir()
	good := header + "records: |\n  www IN A 192.0.2.1\n"
	writeFile(t, dir, "z.yaml", good)
	s, logs := newLoggedStore(t, dir)

	s.ReloadAndLog("SIGHUP")
	if got := logs.take(); !strings.Contains(got, "level=INFO") || !strings.Contains(got, `msg="zones unchanged" reason=SIGHUP`) {
		t.Errorf("reload of unchanged files logged %q", got)
	}
	writeFile(t, dir, "z.yaml", good+"  bad IN A 192.0.2.300\n")
	s.ReloadAndLog("file change")
	if got := logs.take(); !strings.Contains(got, "level=ERROR") {
		t.Errorf("failed reload logged %q", got)
	}
	writeFile(t, dir, "z.yaml", good)
	s.ReloadAndLog("file change")
	if got := logs.take(); !strings.Contains(got, `msg="zones unchanged"`) {
		t.Errorf("reload back to the served files logged %q", got)
	}
	writeFile(t, dir, "z.yaml", good+"  mail IN A 192.0.2.2\n")
	s.ReloadAndLog("file change")
	if got := logs.take(); !strings.Contains(got, `msg="zones reloaded"`) {
		t.Errorf("reload of a change logged %q", got)
	}
}

// TestReloadWarnsOfAStaleSerial holds a zone whose records change while the
// serial written in its file stays to a warning, and nothing else to one.
func TestReloadWarnsOfAStaleSerial(t *testing.T) {
	zone := func(serial, records string) string {
		return "zone: example.com.\nsoa: {mname: ns1.example.com., rname: hostmaster.example.com., serial: " + serial +
			"}\nns: [ns1.example.com.]\nrecords: |\n" + records
	}
	dir := t.TempDir()
	writeFile(t, dir, "z.yaml", zone("5", "  www IN A 192.0.2.1\n"))
	writeFile(t, dir, "d.yaml", "zone: example.net.\nsoa: {mname: ns1.example.net., rname: h.example.net.}\nns: [ns1.example.net.]\nrecords: |\n  www IN A 192.0.2.1\n")
	s, logs := newLoggedStore(t, dir)
	const stale = "zone changed but its serial did not"
	steps := []struct {
		name, file, body string
		warn             bool
	}{
		{"records changed, serial kept", "z.yaml", zone("5", "  www IN A 192.0.2.2\n"), true},
		{"records changed, serial lowered", "z.yaml", zone("4", "  www IN A 192.0.2.3\n"), true},
		{"records changed, serial raised", "z.yaml", zone("6", "  www IN A 192.0.2.4\n"), false},
		{"only a comment changed", "z.yaml", zone("6", "  www IN A 192.0.2.4 ; the web server\n"), false},
		{"a TTL changed", "z.yaml", zone("6", "  www 60 IN A 192.0.2.4\n"), true},
		{"derived serial", "d.yaml", "zone: example.net.\nsoa: {mname: ns1.example.net., rname: h.example.net.}\nns: [ns1.example.net.]\nrecords: |\n  www IN A 192.0.2.9\n", false},
	}
	for _, st := range steps {
		writeFile(t, dir, st.file, st.body)
		if err := s.ReloadAndLog("test"); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := logs.take()
		if strings.Contains(got, stale) != st.warn {
			t.Errorf("%s: logged %q; want a stale-serial warning: %v", st.name, got, st.warn)
		}
		if st.warn && !strings.Contains(got, "level=WARN") || st.warn && !strings.Contains(got, "zone=example.com.") {
			t.Errorf("%s: warning without level or zone: %q", st.name, got)
		}
	}
}

// TestZoneWarningsAreLogged holds the warnings of a zone to the log when
// it is loaded, and again only when it changes.
func TestZoneWarningsAreLogged(t *testing.T) {
	dir := t.TempDir()
	body := header + `regions:
  us-east: { location: [39.04, -77.49] }
checks:
  web: { type: http }
services:
  www:
    check: web
    endpoints: [{ region: us-east, address: 192.0.2.10, check_address: 127.0.0.1 }]
`
	writeFile(t, dir, "z.yaml", body)
	s, logs := newLoggedStore(t, dir)
	if got := logs.take(); !strings.Contains(got, "check web has no port") {
		t.Errorf("startup logged %q", got)
	}
	writeFile(t, dir, "z.yaml", body+"records: |\n  mail IN A 192.0.2.25\n")
	s.ReloadAndLog("test")
	if got := logs.take(); !strings.Contains(got, "check web has no port") {
		t.Errorf("reload of the changed zone logged %q", got)
	}
	s.ReloadAndLog("test")
	if got := logs.take(); strings.Contains(got, "check web has no port") {
		t.Errorf("reload of nothing logged the warning again: %q", got)
	}
}
