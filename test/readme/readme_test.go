// Package readme runs the dig commands of the README's walk-through against
// the demo configuration and checks that dig prints what the README shows.
package readme

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-dns/meridian/app"
	"github.com/meridian-dns/meridian/config"
)

// command is one "$ dig ..." line of the README with the lines shown after
// it.
type command struct {
	args []string
	want []string
}

var consoleBlock = regexp.MustCompile("(?s)```console\n(.*?)```")

// readmeCommands extracts the dig commands and their expected output.
func readmeCommands(t *testing.T) []command {
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []command
	for _, m := range consoleBlock.FindAllStringSubmatch(string(src), -1) {
		for _, line := range strings.Split(m[1], "\n") {
			line = stripComment(line)
			switch {
			case strings.HasPrefix(line, "$ dig "):
				out = append(out, command{args: strings.Fields(strings.TrimPrefix(line, "$ dig "))})
			case line == "" || line == "..." || len(out) == 0:
			default:
				c := &out[len(out)-1]
				c.want = append(c.want, normalize(line))
			}
		}
	}
	return out
}

// stripComment removes the README's explanatory "# ..." after output and
// commands (dig's own output never contains " #").
func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	return strings.TrimRight(line, " \t")
}

var idField = regexp.MustCompile(`, id: \d+`)

// normalize folds white space and drops the query ID, which differs on
// every run.
func normalize(s string) string {
	return strings.Join(strings.Fields(idField.ReplaceAllString(s, "")), " ")
}

// startDemo serves the demo configuration on a free port.
func startDemo(t *testing.T) string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	dir := t.TempDir()
	cfgText := `listen: ["127.0.0.1:0"]
zones: ` + filepath.Join(root, "testdata/demo/zones") + `
geoip:
  city: ` + filepath.Join(root, "testdata/geoip/demo-city.mmdb") + `
http:
  listen: 127.0.0.1:0
server_id: demo-1
admin_state: ` + filepath.Join(dir, "admin-state.yaml") + `
`
	path := filepath.Join(dir, "meridian.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "readme")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-a.Started():
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not start within 10s")
	}
	return strconv.Itoa(int(a.Server.Addrs()[0].Port()))
}

func TestReadmeWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils)")
	}
	cmds := readmeCommands(t)
	if len(cmds) < 6 {
		t.Fatalf("found only %d dig commands in the README", len(cmds))
	}
	port := startDemo(t)
	for _, c := range cmds {
		args := append([]string(nil), c.args...)
		for i, a := range args {
			if a == "5353" && i > 0 && args[i-1] == "-p" {
				args[i] = port
			}
			if strings.HasPrefix(a, "@") && a != "@127.0.0.1" {
				t.Fatalf("README command %v queries %s: the walk-through must stay on loopback", c.args, a)
			}
		}
		args = append(args, "+time=2", "+tries=1")
		name := strings.Join(c.args, " ")
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("dig", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("dig %v: %v\n%s", args, err, out)
			}
			got := map[string]bool{}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				got[normalize(sc.Text())] = true
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("dig output lacks the README's line %q\n%s", w, out)
				}
			}
		})
	}
}
