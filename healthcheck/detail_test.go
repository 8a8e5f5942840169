package healthcheck

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meridian-dns/meridian/healthcheck/check"
	"github.com/meridian-dns/meridian/internal/syncbuf"
)

// hostile is text a probe target might send to mess with whoever reads its
// errors: terminal escapes that clear the screen and colour the text, a
// bell, a NUL, a carriage return, invalid UTF-8 and a right-to-left
// override. hostileMB repeats it to 1 MiB.
const hostile = "\x1b[2J\x1b[31mALERT\x07\x00\r\xff\xfe\u202eeliforp"

var hostileMB = strings.Repeat(hostile, (1<<20)/len(hostile)+1)[:1<<20]

// checkDetail fails the test unless s is at most MaxDetailBytes of valid,
// printable UTF-8 with no terminal escape left in it.
func checkDetail(t *testing.T, what, s string) {
	t.Helper()
	if len(s) > MaxDetailBytes {
		t.Errorf("%s is %d bytes, want at most %d", what, len(s), MaxDetailBytes)
	}
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPrint(r) {
			t.Errorf("%s holds %U: %q", what, r, s)
			break
		}
	}
}

func TestSanitizeDetail(t *testing.T) {
	long := strings.Repeat("x", MaxDetailBytes)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"clean is kept", `Get "http://192.0.2.1/": connection refused`, `Get "http://192.0.2.1/": connection refused`},
		{"clean unicode is kept", "status 503: Dienst nicht verfügbar ✗", "status 503: Dienst nicht verfügbar ✗"},
		{"exactly the cap is kept", long, long},
		{"whitespace becomes a space", "a\tb\nc\r\nd\u00a0e", "a b c  d e"},
		{"controls are replaced", "\x1b[31mred\x07\x00", "\ufffd[31mred\ufffd\ufffd"},
		{"invalid UTF-8 is replaced", "a\xffb\xc3", "a\ufffdb\ufffd"},
		{"format characters are replaced", "abc\u202edef\u200b", "abc\ufffddef\ufffd"},
		{"C1 controls are replaced", "a\u0085b\u009bc", "a b\ufffdc"},
		{"one byte over is cut", long + "y", long[:MaxDetailBytes-len(ellipsis)] + ellipsis},
		// "é" is two bytes; the cut must not split one.
		{"cut at a character boundary", strings.Repeat("é", MaxDetailBytes), strings.Repeat("é", (MaxDetailBytes-len(ellipsis))/2) + ellipsis},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sanitizeDetail(tc.in)
			if got != tc.want {
				t.Errorf("sanitizeDetail(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			checkDetail(t, "result", got)
			if again := sanitizeDetail(got); again != got {
				t.Errorf("a second pass changed %q to %q", got, again)
			}
		})
	}

	got := sanitizeDetail(hostileMB)
	checkDetail(t, "1 MiB of hostile text", got)
	if !strings.HasSuffix(got, ellipsis) || !strings.HasPrefix(got, "\ufffd[2J\ufffd[31mALERT") {
		t.Errorf("1 MiB of hostile text became %q", got)
	}
}

func TestSanitizeError(t *testing.T) {
	if sanitizeError(nil) != nil {
		t.Error("sanitizeError(nil) is not nil")
	}
	clean := errors.New("connection refused")
	if sanitizeError(clean) != clean {
		t.Error("a clean error was wrapped")
	}
	cause := errors.New("cause")
	dirty := fmt.Errorf("exit status 1: %s: %w", hostileMB, cause)
	got := sanitizeError(dirty)
	checkDetail(t, "sanitised error", got.Error())
	if !errors.Is(got, cause) {
		t.Error("the sanitised error does not unwrap to its cause")
	}
}

// TestObserveSanitizes checks that the state machine holds a Result made
// outside runProbe to the same bound.
func TestObserveSanitizes(t *testing.T) {
	h := newHealth(time.Unix(0, 0)).observe(Result{Err: errors.New(hostileMB), Load: -1}, time.Unix(1, 0), 1, 1)
	checkDetail(t, "LastError", h.status().LastError)
	if h.state != StateDown {
		t.Errorf("state %s, want down", h.state)
	}
}

// TestHostileTargetDetail runs checks against targets that answer with a
// megabyte of control characters and terminal escapes, and checks that
// what the Manager records, publishes and logs about them is capped and
// printable.
func TestHostileTargetDetail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status-line":
			// A status line of 60 KiB (under the 64 KiB header limit),
			// which net/http quotes whole in its error.
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 " + hostileMB[:60<<10] + "\r\n\r\n")
			buf.Flush()
		case "/headers":
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\n" + hostileMB[:60<<10] + "\r\n\r\n")
			buf.Flush()
		case "/body":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(hostileMB))
		}
	}))
	t.Cleanup(srv.Close)
	port := portOf(t, srv.Listener.Addr().String())

	tests := []struct {
		name     string
		spec     check.Spec
		wantText string
	}{
		{"status line", check.Spec{Type: check.HTTP, Port: port, Path: "/status-line"}, "malformed HTTP"},
		{"headers", check.Spec{Type: check.HTTP, Port: port, Path: "/headers"}, "malformed MIME header"},
		{"body", check.Spec{Type: check.HTTP, Port: port, Path: "/body", ExpectBody: "ok"}, "status 503"},
		{"exec output", check.Spec{Type: check.Exec, Command: []string{"/bin/sh", "-c",
			`printf '\033[2J\033[31mALERT\a\r'; head -c 1048576 /dev/zero | tr '\0' '\033'; exit 3`}},
			"exit status 3: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			h := newHarness(t, Options{AllowExec: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			spec := tc.spec
			spec.Name, spec.Interval, spec.Timeout, spec.Rise, spec.Fall = "hostile", time.Hour, 2*time.Second, 1, 1
			target := check.Target{Spec: spec, Address: loopback4}
			if err := h.m.SetTargets([]check.Target{target}); err != nil {
				t.Fatal(err)
			}
			h.start()
			tr := h.waitTransition(target.Key(), StateDown)

			st, ok := h.m.Status().Get(target.Key())
			if !ok || !strings.Contains(st.LastError, tc.wantText) {
				t.Fatalf("published status %+v, want a last error containing %q", st, tc.wantText)
			}
			checkDetail(t, "published LastError", st.LastError)
			checkDetail(t, "transition reason", tr.Reason)
			res := h.waitResults(target.Key(), 1)[0]
			checkDetail(t, "Result.Err", res.Err.Error())

			line, _, _ := strings.Cut(logs.String(), "\n")
			if !strings.Contains(line, "endpoint health changed") {
				t.Fatalf("first log line %q, want the transition", line)
			}
			// The log handler escapes what it writes; what matters is
			// that a target cannot make the line long.
			if len(line) > 2*MaxDetailBytes+200 {
				t.Errorf("the transition was logged as %d bytes: %.300q…", len(line), line)
			}
		})
	}
}
