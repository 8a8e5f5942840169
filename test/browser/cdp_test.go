package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// devtools drives one headless Chromium over the DevTools protocol on a
// pipe (--remote-debugging-pipe: Chromium reads commands on its fd 3 and
// writes answers and events on fd 4, each message a JSON object ended by a
// NUL byte), so that a test can type into a page and read it back. It opens
// no port. Every read has the browser's deadline, so a hung browser fails
// the test instead of stalling it.
type devtools struct {
	t        *testing.T
	cmd      *exec.Cmd
	cancel   context.CancelFunc
	commands *os.File      // our end of Chromium's fd 3
	answers  *os.File      // our end of Chromium's fd 4
	r        *bufio.Reader // over answers
	deadline time.Time
	stderr   bytes.Buffer
	lastID   int
	events   []devtoolsMessage
}

type devtoolsMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startDevtools starts Chromium with the same network-tight flags as
// chromium and stops it when the test ends.
func startDevtools(t *testing.T) *devtools {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), browserLimit)
	d := &devtools{t: t, cancel: cancel}
	d.deadline, _ = ctx.Deadline()
	theirIn, commands, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	answers, theirOut, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.commands, d.answers, d.r = commands, answers, bufio.NewReader(answers)
	d.cmd = exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-default-browser-check", "--disable-extensions",
		// Nothing but the loopback address the pages are served from resolves.
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir="+profile, "--window-size=1400,1000", "--hide-scrollbars",
		"--remote-debugging-pipe", "about:blank")
	d.cmd.ExtraFiles = []*os.File{theirIn, theirOut}
	d.cmd.Stderr = &d.stderr
	d.cmd.WaitDelay = 5 * time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	theirIn.Close()
	theirOut.Close()
	if err := answers.SetReadDeadline(d.deadline); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	return d
}

// stop asks Chromium to close, then waits for it (killed at the deadline).
func (d *devtools) stop() {
	d.send("", "Browser.close", nil)
	d.commands.Close()
	d.cmd.Wait()
	d.answers.Close()
	d.cancel()
	if d.t.Failed() {
		d.t.Logf("Chromium's standard error:\n%s", tail(d.stderr.String(), 4000))
	}
}

func (d *devtools) send(session, method string, params any) (int, error) {
	d.lastID++
	msg := map[string]any{"id": d.lastID, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	_, err = d.commands.Write(append(b, 0))
	return d.lastID, err
}

func (d *devtools) read() (devtoolsMessage, error) {
	var m devtoolsMessage
	b, err := d.r.ReadBytes(0)
	if err != nil {
		return m, fmt.Errorf("reading from Chromium: %w", err)
	}
	err = json.Unmarshal(b[:len(b)-1], &m)
	return m, err
}

// call sends a command and returns its result; events that arrive first
// are kept for waitEvent.
func (d *devtools) call(session, method string, params, result any) {
	d.t.Helper()
	id, err := d.send(session, method, params)
	if err != nil {
		d.t.Fatalf("%s: %v", method, err)
	}
	for {
		m, err := d.read()
		if err != nil {
			d.t.Fatalf("%s: %v", method, err)
		}
		if m.ID != id {
			if m.Method != "" {
				d.events = append(d.events, m)
			}
			continue
		}
		if m.Error != nil {
			d.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		if result != nil {
			if err := json.Unmarshal(m.Result, result); err != nil {
				d.t.Fatalf("%s: %v", method, err)
			}
		}
		return
	}
}

// waitEvent returns once the event method has arrived for session.
func (d *devtools) waitEvent(session, method string) {
	d.t.Helper()
	for i, m := range d.events {
		if m.Method == method && m.SessionID == session {
			d.events = append(d.events[:i], d.events[i+1:]...)
			return
		}
	}
	for {
		m, err := d.read()
		if err != nil {
			d.t.Fatalf("waiting for %s: %v", method, err)
		}
		if m.Method == method && m.SessionID == session {
			return
		}
		if m.Method != "" {
			d.events = append(d.events, m)
		}
	}
}

// newPage opens a tab and returns its session.
func (d *devtools) newPage() string {
	d.t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	d.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	d.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	d.call(attached.SessionID, "Page.enable", nil, nil)
	return attached.SessionID
}

// navigate loads url in the tab and waits for its load event.
func (d *devtools) navigate(session, url string) {
	d.t.Helper()
	d.dropEvents(session, "Page.loadEventFired")
	var res struct {
		ErrorText string `json:"errorText"`
	}
	d.call(session, "Page.navigate", map[string]any{"url": url}, &res)
	if res.ErrorText != "" {
		d.t.Fatalf("navigating to %s: %s", url, res.ErrorText)
	}
	d.waitEvent(session, "Page.loadEventFired")
}

// reload reloads the tab and waits for its load event.
func (d *devtools) reload(session string) {
	d.t.Helper()
	d.dropEvents(session, "Page.loadEventFired")
	d.call(session, "Page.reload", nil, nil)
	d.waitEvent(session, "Page.loadEventFired")
}

func (d *devtools) dropEvents(session, method string) {
	kept := d.events[:0]
	for _, m := range d.events {
		if m.Method != method || m.SessionID != session {
			kept = append(kept, m)
		}
	}
	d.events = kept
}

// eval runs a JavaScript expression in the page, awaiting it when it is a
// promise, and decodes its value into result (when not nil).
func (d *devtools) eval(session, expr string, result any) error {
	d.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	d.call(session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res)
	if e := res.ExceptionDetails; e != nil {
		return errors.New(strings.TrimSpace(e.Text + " " + e.Exception.Description))
	}
	if result != nil && len(res.Result.Value) > 0 {
		return json.Unmarshal(res.Result.Value, result)
	}
	return nil
}

// waitFor waits, inside the page, until the JavaScript condition cond is
// true, up to the browser's deadline.
func (d *devtools) waitFor(session, cond, what string) {
	d.t.Helper()
	limit := time.Until(d.deadline) - time.Second
	expr := fmt.Sprintf(`new Promise((resolve, reject) => {
		const until = Date.now() + %d;
		const poll = () => {
			let ok = false;
			try { ok = Boolean(%s); } catch (e) { ok = false; }
			if (ok) resolve(true);
			else if (Date.now() > until) reject(new Error("gave up waiting"));
			else setTimeout(poll, 25);
		};
		poll();
	})`, limit.Milliseconds(), cond)
	if err := d.eval(session, expr, nil); err != nil {
		d.t.Fatalf("waiting for %s (%s): %v\npage:\n%s", what, cond, err, tail(d.html(session), 3000))
	}
}

// pressEnter types the Enter key into the focused element.
func (d *devtools) pressEnter(session string) {
	d.t.Helper()
	key := map[string]any{"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
	down := map[string]any{"type": "keyDown", "text": "\r"}
	for k, v := range key {
		down[k] = v
	}
	d.call(session, "Input.dispatchKeyEvent", down, nil)
	up := map[string]any{"type": "keyUp"}
	for k, v := range key {
		up[k] = v
	}
	d.call(session, "Input.dispatchKeyEvent", up, nil)
}

// typeInto focuses the element with the id and types text into it, as a
// keyboard would.
func (d *devtools) typeInto(session, id, text string) {
	d.t.Helper()
	if err := d.eval(session, fmt.Sprintf("document.getElementById(%q).focus()", id), nil); err != nil {
		d.t.Fatal(err)
	}
	d.call(session, "Input.insertText", map[string]any{"text": text}, nil)
}

func (d *devtools) html(session string) string {
	var s string
	if err := d.eval(session, "document.documentElement.outerHTML", &s); err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// dom returns the page's current DOM, parsed.
func (d *devtools) dom(session string) *html.Node {
	d.t.Helper()
	doc, err := html.Parse(strings.NewReader(d.html(session)))
	if err != nil {
		d.t.Fatal(err)
	}
	return doc
}

// screenshot saves the tab as test/artifacts/<shot>.
func (d *devtools) screenshot(session, shot string) {
	d.t.Helper()
	var res struct {
		Data string `json:"data"`
	}
	d.call(session, "Page.captureScreenshot", map[string]any{"format": "png"}, &res)
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		d.t.Fatal(err)
	}
	path, err := filepath.Abs(filepath.Join("..", "artifacts", shot))
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("screenshot: %s", path)
}
