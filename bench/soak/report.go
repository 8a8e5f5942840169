package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// The memory criterion: RSS grew without bound when its average over the
// last 20% of the run is more than growthRatio times, and more than
// growthBytes above, its average over the 20% of the run that follows the
// first warmup.
const (
	warmup      = 10 * time.Second
	growthRatio = 1.5
	growthBytes = 32 << 20
)

// minDuration is the shortest soak the memory criterion can judge: its two
// windows must not overlap.
const minDuration = 20 * time.Second

// rssWindows are the averages the memory criterion compares.
type rssWindows struct {
	Baseline, Final float64 // bytes
	Unbounded       bool
}

// evaluateRSS applies the memory criterion to samples of a run of length d.
func evaluateRSS(samples []rssSample, d time.Duration) rssWindows {
	avg := func(from, to time.Duration) float64 {
		var sum float64
		n := 0
		for _, s := range samples {
			if s.Valid && s.At >= from && s.At <= to {
				sum += float64(s.RSS)
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return sum / float64(n)
	}
	w := rssWindows{
		Baseline: avg(warmup, warmup+d/5),
		Final:    avg(d-d/5, d+time.Second),
	}
	w.Unbounded = w.Baseline > 0 && w.Final > growthRatio*w.Baseline && w.Final-w.Baseline > growthBytes
	return w
}

// Report is the soak's result; it is printed and, with -out, written as
// JSON.
type Report struct {
	Date     string `json:"date"`
	Command  string `json:"command"`
	Binary   string `json:"binary"`
	Duration string `json:"duration"`
	QPS      int    `json:"qps_target"`
	Queries  int    `json:"query_mix_lines"`

	QueriesSent      int64            `json:"queries_sent"`
	QueriesAnswered  int64            `json:"queries_answered"`
	QueriesLost      int64            `json:"queries_lost"`
	Interrupted      int64            `json:"queries_interrupted"`
	UnexpectedIDs    int64            `json:"unexpected_ids"`
	ResponsesParsed  int64            `json:"responses_parsed"`
	QPSAchieved      float64          `json:"qps_achieved"`
	RunTimeSeconds   float64          `json:"dnsperf_run_time_seconds"`
	Rcodes           map[string]int64 `json:"rcodes"`
	ServFail         int64            `json:"servfail"`
	LatencyP50Millis float64          `json:"latency_p50_ms"`
	LatencyP99Millis float64          `json:"latency_p99_ms"`
	LatencyMaxMillis float64          `json:"latency_max_ms"`
	Slowest          []string         `json:"slowest_responses"`

	ZoneRewrites        int64 `json:"zone_rewrites"`
	ZoneReloadsObserved int   `json:"zone_reloads_observed"`
	HealthFlaps         int64 `json:"health_flaps"`
	HealthTransitions   int64 `json:"health_transitions_observed"`
	// HealthChanges counts the logged health changes by target address
	// and new state, as "127.0.0.42 down".
	HealthChanges        map[string]int `json:"health_changes_logged"`
	GeoIPReplacements    int64          `json:"geoip_replacements"`
	GeoIPReloadsObserved int            `json:"geoip_reloads_observed"`
	ErrorLines           int            `json:"error_log_lines"`
	WarnLines            int            `json:"warn_log_lines"`
	ErrorSamples         []string       `json:"error_samples,omitempty"`
	WarnSamples          []string       `json:"warn_samples,omitempty"`

	ServerServFail float64 `json:"server_servfail_responses"`
	ServerPanics   float64 `json:"server_panics"`
	// ServerAnswerMeanMicros and ServerAnswerP99Millis are Meridian's own
	// time to answer (parse to packed reply), without the time a query
	// waits in socket buffers or for a CPU; the p99 is a histogram bucket's
	// upper bound.
	ServerAnswerMeanMicros float64 `json:"server_answer_mean_us"`
	ServerAnswerP99Millis  float64 `json:"server_answer_p99_ms_upper_bound"`
	ServerCPUSeconds       float64 `json:"server_cpu_seconds"`

	RSSStartMiB       float64  `json:"rss_start_mib"`
	RSSEndMiB         float64  `json:"rss_end_mib"`
	RSSPeakMiB        float64  `json:"rss_peak_mib"`
	RSSGrowthMiB      float64  `json:"rss_growth_mib"`
	RSSBaselineAvgMiB float64  `json:"rss_baseline_avg_mib"`
	RSSFinalAvgMiB    float64  `json:"rss_final_avg_mib"`
	RSSSamples        int      `json:"rss_samples"`
	LoadAvgStart      string   `json:"loadavg_start"`
	LoadAvgEnd        string   `json:"loadavg_end"`
	StopSeconds       float64  `json:"stop_seconds"`
	ExitedCleanly     bool     `json:"exited_cleanly"`
	KeptTempDir       string   `json:"kept_temp_dir,omitempty"`
	Failures          []string `json:"failures"`
	Passed            bool     `json:"passed"`
}

func mib(b float64) float64 { return b / (1 << 20) }

// setRSS fills the memory figures from the samples.
func (r *Report) setRSS(samples []rssSample, d time.Duration) rssWindows {
	var valid []rssSample
	for _, s := range samples {
		if s.Valid {
			valid = append(valid, s)
		}
	}
	r.RSSSamples = len(valid)
	if len(valid) == 0 {
		return rssWindows{}
	}
	first, last := valid[0], valid[len(valid)-1]
	r.RSSStartMiB = mib(float64(first.RSS))
	r.RSSEndMiB = mib(float64(last.RSS))
	r.RSSGrowthMiB = r.RSSEndMiB - r.RSSStartMiB
	for _, s := range valid {
		r.RSSPeakMiB = max(r.RSSPeakMiB, mib(float64(s.Peak)))
	}
	w := evaluateRSS(samples, d)
	r.RSSBaselineAvgMiB = mib(w.Baseline)
	r.RSSFinalAvgMiB = mib(w.Final)
	return w
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// print writes the human-readable report.
func (r *Report) print(w io.Writer) {
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(w, "  %-28s %s\n", k, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(w, "\nMeridian soak report (%s)\n", r.Date)
	row("command", "%s", r.Command)
	row("duration", "%s (dnsperf ran %.1fs)", r.Duration, r.RunTimeSeconds)
	row("target QPS", "%d, query mix of %d lines", r.QPS, r.Queries)
	row("queries sent", "%d", r.QueriesSent)
	row("queries answered", "%d (%d response lines parsed)", r.QueriesAnswered, r.ResponsesParsed)
	row("queries lost", "%d (interrupted %d, unexpected IDs %d)", r.QueriesLost, r.Interrupted, r.UnexpectedIDs)
	row("QPS achieved", "%.1f", r.QPSAchieved)
	row("rcodes", "%s", formatRcodes(r.Rcodes))
	row("SERVFAIL", "%d (server counted %.0f, panics %.0f)", r.ServFail, r.ServerServFail, r.ServerPanics)
	row("latency p50 / p99 / max", "%.3f / %.3f / %.3f ms", r.LatencyP50Millis, r.LatencyP99Millis, r.LatencyMaxMillis)
	if len(r.Slowest) > 0 {
		row("slowest responses", "%s", strings.Join(r.Slowest[:min(5, len(r.Slowest))], ", "))
	}
	row("meridian's own answer time", "mean %.1f µs, p99 <= %g ms; %.1f CPU seconds in all", r.ServerAnswerMeanMicros, r.ServerAnswerP99Millis, r.ServerCPUSeconds)
	row("zone rewrites", "%d", r.ZoneRewrites)
	row("zone reloads observed", "%d", r.ZoneReloadsObserved)
	row("health flaps", "%d (server saw %d transitions)", r.HealthFlaps, r.HealthTransitions)
	row("health changes logged", "%s", formatHealthChanges(r.HealthChanges))
	row("GeoIP replacements", "%d (%d reloads observed)", r.GeoIPReplacements, r.GeoIPReloadsObserved)
	row("error log lines", "%d (warnings %d: health changes are logged as warnings)", r.ErrorLines, r.WarnLines)
	samples := r.ErrorSamples
	if !r.Passed {
		samples = append(samples, r.WarnSamples...)
	}
	for _, l := range samples {
		fmt.Fprintf(w, "      %s\n", l)
	}
	row("RSS start / end / peak", "%.1f / %.1f / %.1f MiB (VmHWM)", r.RSSStartMiB, r.RSSEndMiB, r.RSSPeakMiB)
	row("RSS growth", "%+.1f MiB end-start; avg %.1f MiB after warm-up, %.1f MiB in the last 20%%",
		r.RSSGrowthMiB, r.RSSBaselineAvgMiB, r.RSSFinalAvgMiB)
	row("load average start / end", "%s / %s (1, 5, 15 min; %d CPUs)", r.LoadAvgStart, r.LoadAvgEnd, runtime.NumCPU())
	row("SIGTERM exit", "%v in %.2fs", r.ExitedCleanly, r.StopSeconds)
	if r.KeptTempDir != "" {
		row("files kept in", "%s", r.KeptTempDir)
	}
	if r.Passed {
		fmt.Fprintln(w, "PASS")
		return
	}
	fmt.Fprintln(w, "FAIL:")
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  - %s\n", f)
	}
}

// formatHealthChanges lists the changes per check address, naming what the
// soak did to each.
func formatHealthChanges(m map[string]int) string {
	role := map[string]string{}
	for i, a := range checkAddrs {
		role[a] = "steady"
		switch i {
		case toggledTarget:
			role[a] = "200/500"
		case closedTarget:
			role[a] = "closed/reopened"
		}
	}
	var parts []string
	for _, a := range checkAddrs {
		parts = append(parts, fmt.Sprintf("%s (%s) up %d down %d", a, role[a], m[a+" up"], m[a+" down"]))
	}
	return strings.Join(parts, "; ")
}

func formatRcodes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeJSON writes the report to path.
func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// loadAvg returns the 1, 5 and 15 minute load averages from /proc/loadavg,
// which tell how busy the machine was while the latencies were measured.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
