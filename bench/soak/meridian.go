package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds the wait for the "meridian started" line: the startup
// grace is 2s, so anything near this is a hang.
const startTimeout = 30 * time.Second

// stopTimeout is how long Meridian has to exit after SIGTERM.
const stopTimeout = 10 * time.Second

// meridian is a running `meridian serve` and what its log has said.
type meridian struct {
	cmd *exec.Cmd
	// DNS and Admin are the addresses from the "meridian started" line.
	DNS   netip.AddrPort
	Admin string

	started chan struct{}
	exited  chan struct{} // closed once the process has been waited for
	waitErr error

	mu            sync.Mutex
	errorLines    int
	errorSamples  []string
	warnLines     int
	warnSamples   []string
	zoneReloads   int
	healthChanges map[string]int // "127.0.0.42 down" -> count
	geoipReloads  int
	startErr      error
	diedBeforeEnd bool
	stopping      bool
}

var (
	listenAttr = regexp.MustCompile(`\blisten="?\[([^\]]*)\]`)
	adminAttr  = regexp.MustCompile(`\badmin=(\S+)`)
	// healthChange takes the target's host and the new state from an
	// "endpoint health changed" line.
	healthChange = regexp.MustCompile(`\btarget=\S*?//([^:/\s]+)\S*.*\bto=(\w+)`)
)

// startMeridian runs `bin serve --config config`, copies its stderr to
// logPath and waits, at most startTimeout, for the "meridian started" line.
func startMeridian(bin, config, logPath string) (*meridian, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	m := &meridian{cmd: cmd, started: make(chan struct{}), exited: make(chan struct{}), healthChanges: map[string]int{}}
	go func() {
		m.readLog(io.TeeReader(stderr, logFile))
		m.waitErr = cmd.Wait()
		logFile.Close()
		m.mu.Lock()
		if !m.stopping {
			m.diedBeforeEnd = true
		}
		m.mu.Unlock()
		close(m.exited)
	}()
	select {
	case <-m.started:
		m.mu.Lock()
		err := m.startErr
		m.mu.Unlock()
		if err != nil {
			m.kill()
			return nil, err
		}
		return m, nil
	case <-m.exited:
		return nil, fmt.Errorf("meridian exited before it started (%v); see %s", m.waitErr, logPath)
	case <-time.After(startTimeout):
		m.kill()
		return nil, fmt.Errorf("no \"meridian started\" line within %s; see %s", startTimeout, logPath)
	}
}

// readLog reads Meridian's log to the end, counting what the report needs.
func (m *meridian) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	started := false
	for sc.Scan() {
		line := sc.Text()
		m.mu.Lock()
		switch {
		case strings.Contains(line, "level=ERROR"):
			m.errorLines++
			if len(m.errorSamples) < 10 {
				m.errorSamples = append(m.errorSamples, line)
			}
		case strings.Contains(line, "level=WARN"):
			m.warnLines++
			if len(m.warnSamples) < 5 {
				m.warnSamples = append(m.warnSamples, line)
			}
		}
		if strings.Contains(line, `msg="zones reloaded"`) {
			m.zoneReloads++
		}
		if strings.Contains(line, `msg="geoip database loaded"`) {
			m.geoipReloads++
		}
		if strings.Contains(line, `msg="endpoint health changed"`) {
			if hm := healthChange.FindStringSubmatch(line); hm != nil {
				m.healthChanges[hm[1]+" "+hm[2]]++
			}
		}
		m.mu.Unlock()
		if !started && strings.Contains(line, `msg="meridian started"`) {
			started = true
			m.parseStarted(line)
			close(m.started)
		}
	}
	io.Copy(io.Discard, r)
}

// parseStarted takes the DNS and admin addresses from the started line.
func (m *meridian) parseStarted(line string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	lm := listenAttr.FindStringSubmatch(line)
	if lm == nil {
		m.startErr = fmt.Errorf("no listen=[...] in the started line: %s", line)
		return
	}
	ap, err := netip.ParseAddrPort(strings.Fields(lm[1])[0])
	if err != nil {
		m.startErr = fmt.Errorf("started line: listen: %v", err)
		return
	}
	if !ap.Addr().IsLoopback() {
		m.startErr = fmt.Errorf("started line: %s is not a loopback address", ap)
		return
	}
	m.DNS = ap
	if am := adminAttr.FindStringSubmatch(line); am != nil {
		m.Admin = am[1]
	}
}

// logCounts is a snapshot of what the log has said.
type logCounts struct {
	ErrorLines, WarnLines     int
	ErrorSamples, WarnSamples []string
	ZoneReloads, GeoIPReloads int
	HealthChanges             map[string]int
}

func (m *meridian) counts() logCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return logCounts{
		ErrorLines: m.errorLines, WarnLines: m.warnLines,
		ErrorSamples: append([]string(nil), m.errorSamples...),
		WarnSamples:  append([]string(nil), m.warnSamples...),
		ZoneReloads:  m.zoneReloads, GeoIPReloads: m.geoipReloads,
		HealthChanges: maps.Clone(m.healthChanges),
	}
}

// alive reports whether the process is still running.
func (m *meridian) alive() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

func (m *meridian) kill() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.cmd.Process.Kill()
	<-m.exited
}

// stop sends SIGTERM and waits up to stopTimeout. It returns how long the
// exit took and an error when the process had died already, did not exit
// in time (it is then killed) or exited with a non-zero status.
func (m *meridian) stop() (time.Duration, error) {
	m.mu.Lock()
	died := m.diedBeforeEnd
	m.stopping = true
	m.mu.Unlock()
	if died {
		return 0, fmt.Errorf("meridian died during the soak: %v", m.waitErr)
	}
	start := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-m.exited:
	case <-time.After(stopTimeout):
		m.cmd.Process.Kill()
		<-m.exited
		return time.Since(start), fmt.Errorf("meridian did not exit within %s of SIGTERM", stopTimeout)
	}
	took := time.Since(start)
	if m.waitErr != nil {
		return took, fmt.Errorf("meridian exited after SIGTERM with %v", m.waitErr)
	}
	return took, nil
}

// rssSample is one reading of /proc/<pid>/status.
type rssSample struct {
	At    time.Duration // since the load started
	RSS   int64         // VmRSS, bytes
	Peak  int64         // VmHWM, bytes
	Valid bool
}

// readRSS reads VmRSS and VmHWM of pid.
func readRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		var dst *int64
		switch f[0] {
		case "VmRSS:":
			dst = &rss
		case "VmHWM:":
			dst = &hwm
		default:
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %v", pid, line, err)
		}
		*dst = kb * 1024
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return rss, hwm, nil
}

// sampleRSS reads Meridian's memory every second until ctx ends and returns
// the samples, timed from start.
func (m *meridian) sampleRSS(ctx context.Context, start time.Time) []rssSample {
	var out []rssSample
	take := func() {
		rss, hwm, err := readRSS(m.cmd.Process.Pid)
		out = append(out, rssSample{At: time.Since(start), RSS: rss, Peak: hwm, Valid: err == nil})
	}
	take()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			take()
			return out
		case <-t.C:
			take()
		}
	}
}

// scrapeMetrics fetches Meridian's /metrics from its loopback admin
// address and parses it with parseMetrics.
func scrapeMetrics(admin string) (map[string]float64, error) {
	ap, err := netip.ParseAddrPort(admin)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("admin address %q is not a loopback address", admin)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + ap.String() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format into a map from each
// labelled series (`name{labels}`) to its value and from each metric name to
// the sum of its series.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		series := line[:i]
		name := series
		if j := strings.IndexByte(series, '{'); j >= 0 {
			name = series[:j]
			out[series] += v
		}
		out[name] += v
	}
	return out, sc.Err()
}
