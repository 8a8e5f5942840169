# bench/lib.sh holds what bench/dnsperf.sh and bench/dnssec.sh share: the
# settings they both read from the environment, the temporary directory and
# the traps that stop every server a script started, building Meridian, and
# one measured dnsperf run with the server's CPU time per query. It is
# sourced, not run; the sourcing script sets `set -euo pipefail` and calls,
# in order, bench_settings, bench_require, bench_enter_root and
# bench_session before anything else here.

# fail reports on stderr, under the running script's name, and exits.
fail() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# bench_settings reads and checks the environment both scripts share (their
# usage texts describe it). PORT2 is the port of the server Meridian is
# compared with.
bench_settings() {
	DURATION=${DURATION:-5}
	ROUNDS=${ROUNDS:-5}
	WARMUP=${WARMUP:-1}
	PORT=${PORT:-5399}
	PORT2=${PORT2:-$((PORT + 1))}
	HTTP_PORT=${HTTP_PORT:-$((PORT + 2))}
	CLIENTS=${CLIENTS:-8}
	OUTSTANDING=${OUTSTANDING:-500}
	TIMEOUT=${TIMEOUT:-1}
	SERVER_CPU=${SERVER_CPU:-0}
	CLIENT_CPU=${CLIENT_CPU:-1}
	GO=${GO:-go}
	KEEP=${KEEP:-0}
	REV=${REV:-}
	LATENCY=${LATENCY:-1}

	local v
	[[ $LATENCY == 0 || $LATENCY == 1 ]] || fail "LATENCY must be 0 or 1, got '$LATENCY'"
	for v in DURATION ROUNDS WARMUP PORT PORT2 HTTP_PORT CLIENTS OUTSTANDING TIMEOUT SERVER_CPU CLIENT_CPU; do
		[[ ${!v} =~ ^[0-9]+$ ]] || fail "$v must be a whole number, got '${!v}'"
	done
	((DURATION >= 1)) || fail "DURATION must be at least 1 second"
	((ROUNDS >= 1)) || fail "ROUNDS must be at least 1"
	((TIMEOUT >= 1)) || fail "TIMEOUT must be at least 1 second"
	((PORT >= 1024 && PORT <= 65535 && PORT2 >= 1024 && PORT2 <= 65535 && HTTP_PORT >= 1024 && HTTP_PORT <= 65535)) || fail "PORT, PORT2 and HTTP_PORT must be in 1024-65535"
	((PORT != PORT2 && HTTP_PORT != PORT && HTTP_PORT != PORT2)) || fail "PORT, PORT2 and HTTP_PORT must differ"
	((SERVER_CPU != CLIENT_CPU)) || fail "SERVER_CPU and CLIENT_CPU must differ"
}

# bench_require checks the commands both scripts need, and the two cores.
# Nothing is installed here.
bench_require() {
	local cmd c
	for cmd in "$GO" dnsperf taskset awk getconf; do
		command -v "$cmd" >/dev/null || fail "$cmd not found (Debian: apt-get install dnsperf util-linux mawk; Go from go.dev)"
	done
	for c in "$SERVER_CPU" "$CLIENT_CPU"; do
		grep -q "^cpu$c " /proc/stat || fail "CPU $c does not exist here (nproc: $(nproc)); set SERVER_CPU and CLIENT_CPU"
	done
}

# bench_enter_root moves to the repository root (the scripts' paths are
# relative to it) and, with REV, checks that it names a commit.
bench_enter_root() {
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	cd "$root"
	[[ -f bench/perf/meridian.yaml ]] || fail "bench/perf/meridian.yaml missing under $root"
	if [[ -n $REV ]]; then
		command -v git >/dev/null || fail "REV needs git"
		commit=$(git rev-parse --verify --quiet "$REV^{commit}") || fail "REV=$REV is not a commit of $root"
	fi
}

# bench_session makes the temporary directory $tmp (named after $1) and sets
# the traps: whatever way the script ends, the servers in pids and the
# running dnsperf are stopped and $tmp is removed (kept with KEEP=1).
bench_session() {
	clk_tck=$(getconf CLK_TCK)
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	pids=()     # the servers
	client_pid= # the running dnsperf, if any
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf 'example.com SOA\n' >"$tmp/probe.txt"
}

# stop ends the processes this script started, politely first.
stop() {
	local p
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		local alive=0
		for p in "$@"; do
			if kill -0 "$p" 2>/dev/null; then
				alive=1
			fi
		done
		((alive)) || return 0
		sleep 0.1
	done
	for p in "$@"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $client_pid ]]; then
		stop "$client_pid"
	fi
	if ((${#pids[@]})); then
		stop "${pids[@]}"
	fi
	if [[ $KEEP == 1 ]]; then
		echo "${0##*/}: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}

# answers reports whether a DNS server answers on 127.0.0.1:$1 within a second.
answers() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$tmp/probe.txt" -n 1 -t 1 2>&1 |
		grep -Eq '^ *Queries completed: +1 '
}

# ports_free fails when a server already answers on one of the ports $@: it
# would take part of the load (the servers bind with SO_REUSEPORT) or be
# measured instead of ours.
ports_free() {
	local p
	for p in "$@"; do
		if answers "$p"; then
			fail "something already answers DNS on 127.0.0.1:$p: stop it or choose other PORT/PORT2"
		fi
	done
}

# wait_ready waits, at most 30 seconds, until the server $2 (pid $3) answers
# on port $1; its log is $4.
wait_ready() {
	local port=$1 name=$2 pid=$3 log=$4 deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		kill -0 "$pid" 2>/dev/null || fail "$name exited during startup; its log ($log):
$(tail -n 20 "$log")"
		if answers "$port"; then
			return 0
		fi
		sleep 0.2
	done
	fail "$name does not answer on 127.0.0.1:$port after 30s; its log ($log):
$(tail -n 20 "$log")"
}

# bench_banner prints the machine, the time and the load average.
bench_banner() {
	echo "== $(date -u '+%Y-%m-%d %H:%M:%SZ') on $(nproc) CPUs: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# build_meridian builds Meridian into $tmp/meridian, from REV or the working
# tree, and the benchmark's GeoIP database into $tmp/bench-city.mmdb, and
# genqueries into $tmp/genqueries.
build_meridian() {
	if [[ -n $REV ]]; then
		echo "== building Meridian from commit $commit ($REV)"
		mkdir "$tmp/src"
		git archive "$commit" | tar -x -C "$tmp/src"
		(cd "$tmp/src" && "$GO" build -o "$tmp/meridian" ./cmd/meridian)
	else
		local changed
		changed=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
		echo "== building Meridian from the working tree at $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)'), $changed tracked files changed"
		"$GO" build -o "$tmp/meridian" ./cmd/meridian
	fi
	echo "== building the GeoIP database from bench/perf/geoip.csv and the ECS query mix"
	"$tmp/meridian" geoip build --format csv --in bench/perf/geoip.csv --out "$tmp/bench-city.mmdb"
	"$GO" build -o "$tmp/genqueries" ./bench/perf/genqueries
}

# start_meridian starts Meridian pinned to CPU $SERVER_CPU on
# 127.0.0.1:$PORT with the configuration $1 and the benchmark's database,
# waits until it answers and sets meridian_pid. MERIDIAN_* variables and
# the Go runtime's GOMAXPROCS, GOGC, GOMEMLIMIT and GODEBUG are cleared, so
# the configuration is exactly the file and --geoip-city.
start_meridian() {
	local clean_env=(env -u GOMAXPROCS -u GOGC -u GOMEMLIMIT -u GODEBUG) v
	while read -r v; do
		clean_env+=(-u "$v")
	done < <(compgen -e | grep '^MERIDIAN_' || true)
	echo "== starting Meridian on 127.0.0.1:$PORT, pinned to CPU $SERVER_CPU"
	"${clean_env[@]}" taskset -c "$SERVER_CPU" "$tmp/meridian" serve \
		--config "$1" --geoip-city "$tmp/bench-city.mmdb" \
		--listen "127.0.0.1:$PORT" --http-listen "127.0.0.1:$HTTP_PORT" >"$tmp/meridian.log" 2>&1 &
	meridian_pid=$!
	pids+=("$meridian_pid")
	wait_ready "$PORT" Meridian "$meridian_pid" "$tmp/meridian.log"
}

# proc_ns prints the CPU time of process $1 in nanoseconds: the sum over its
# threads of the first field of /proc/PID/task/TID/schedstat (time on a CPU,
# exact to the nanosecond, where /proc/PID/stat counts 10 ms ticks).
proc_ns() {
	[[ -d /proc/$1/task ]] || fail "process $1 is gone"
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# duration_buckets prints Meridian's request-duration histogram, one
# "upper-bound count" line per bucket, read from its admin listener with
# bash's /dev/tcp (no curl needed).
duration_buckets() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT" || fail "cannot reach Meridian's admin listener on 127.0.0.1:$HTTP_PORT"
	printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	while IFS= read -r line <&3; do
		if [[ $line == meridian_dns_request_duration_seconds_bucket* ]]; then
			line=${line#*le=\"}
			echo "${line%%\"*} ${line##* }"
		fi
	done
	exec 3<&-
}

# core_time prints "busy total" nanoseconds for core $SERVER_CPU at this
# moment: total is the wall clock, busy the wall clock less the core's idle
# and iowait time from /proc/stat. A tickless kernel measures those two
# exactly, from each entry to and exit from idle; the other fields are
# sampled at each tick, which leans towards whatever tends to run at the
# tick: summed that way, gdnsd's core was less busy than gdnsd's own
# process, which cannot be (docs/performance.md, "The benchmark").
core_time() {
	local now
	now=$(date +%s%N)
	awk -v c="cpu$SERVER_CPU" -v now="$now" -v hz="$clk_tck" '$1 == c { printf "%.0f %.0f\n", now - ($5 + $6) * 1e9 / hz, now }' /proc/stat
}

# dnsperf_run runs dnsperf pinned to CPU $CLIENT_CPU with the given arguments,
# its output to the file $1, and waits for it.
dnsperf_run() {
	local out=$1
	shift
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -t "$TIMEOUT" "$@" >"$out" 2>&1 &
	client_pid=$!
	if ! wait "$client_pid"; then
		client_pid=
		fail "dnsperf $* failed:
$(grep -v '^>' "$out" | tail -n 20)"
	fi
	client_pid=
}

# measure runs one measured load of query file $3 against server $1 (pid $2,
# port $4); $5 is "text" or "binary", $6 the -Q rate or "", and $7, when
# "do", sets the DNSSEC OK bit on text input (binary input carries its own
# flags). It writes one result line to $tmp/result:
#   server qps proc_us core_us server% core_busy% avg_us p99_us completed lost resp_bytes srv_p99
# where server% is the share of the core's time the server process used.
# With LATENCY=0 the measured run leaves out dnsperf -v, which prints every
# query's latency for the p99 but also moves where the kernel charges its
# network work on the server's core (docs/performance.md); p99_us is then
# "-".
measure() {
	local name=$1 pid=$2 file=$3 port=$4 format=$5 rate=$6 flags=${7:-}
	local args=(-p "$port" -d "$file")
	if [[ $format == binary ]]; then
		args+=(-B)
	elif [[ $flags == do ]]; then
		args+=(-D)
	else
		args+=(-e)
	fi
	if [[ -n $rate ]]; then
		args+=(-Q "$rate" -c "$RATE_CLIENTS" -q "$RATE_OUTSTANDING")
	else
		args+=(-c "$CLIENTS" -q "$OUTSTANDING")
	fi
	if ((WARMUP > 0)); then
		dnsperf_run "$tmp/warmup.out" "${args[@]}" -l "$WARMUP"
	fi
	local p0 c0 p1 c1 h0="" h1=""
	if [[ $name == meridian ]]; then
		h0=$(duration_buckets | tr '\n' ';')
	fi
	p0=$(proc_ns "$pid")
	c0=$(core_time)
	if ((LATENCY)); then
		args+=(-v)
	fi
	dnsperf_run "$tmp/run.out" "${args[@]}" -l "$DURATION"
	p1=$(proc_ns "$pid")
	c1=$(core_time)
	if [[ $name == meridian ]]; then
		h1=$(duration_buckets | tr '\n' ';')
	fi
	# One pass over dnsperf's output: a histogram of the per-query latencies
	# ("> NOERROR name type 0.000123"; timeouts are "> T name type") at 1 us
	# resolution for the p99, and the summary lines.
	awk -v name="$name" -v p0="$p0" -v p1="$p1" -v c0="$c0" -v c1="$c1" -v h0="$h0" -v h1="$h1" '
		/^> / && $2 != "T" { us = int($NF * 1e6 + 0.5); h[us]++; n++; if (us > max) max = us; next }
		/^  Queries completed:/ { done = $3 }
		/^  Queries lost:/ { lost = $3 }
		/^  Queries per second:/ { qps = $4 }
		/^  Average Latency \(s\):/ { avg = $4 * 1e6 }
		/^  Average packet size:/ { size = $7 }
		END {
			if (done == "" || done == 0) { print "no completed queries" > "/dev/stderr"; exit 1 }
			split(c0, a, " "); split(c1, b, " ")
			busy = b[1] - a[1]; total = b[2] - a[2]
			want = n * 0.99; seen = 0; p99 = "-"
			for (i = 0; n > 0 && i <= max; i++) if (i in h) { seen += h[i]; if (seen >= want) { p99 = i; break } }
			# Meridian own p99: the upper bound of the first bucket of its
			# request-duration histogram (cumulative) holding 99 % of the
			# run, from receipt to reply handed to the kernel.
			srv = "-"
			if (h1 != "") {
				nb = split(h0, b0, ";"); split(h1, b1, ";")
				for (i = 1; i <= nb; i++) if (b0[i] != "") { split(b0[i], x, " "); split(b1[i], y, " "); le[i] = x[1]; d[i] = y[2] - x[2] }
				all = d[nb - 1]
				for (i = 1; i < nb; i++) if (all > 0 && d[i] >= 0.99 * all) { srv = (le[i] == "+Inf" ? ">100000" : sprintf("%.0f", le[i] * 1e6)); break }
			}
			printf "%s %.0f %.2f %.2f %.0f %.0f %.0f %s %d %d %d %s\n", name, qps,
				(p1 - p0) / 1e3 / done, busy / 1e3 / done,
				(total > 0 ? 100 * (p1 - p0) / total : 0), (total > 0 ? 100 * busy / total : 0),
				avg, p99, done, lost, size, srv
		}' "$tmp/run.out" >"$tmp/result" || fail "could not read dnsperf's output for $name $file:
$(grep -v '^>' "$tmp/run.out" | tail -n 20)"
	rm -f "$tmp/run.out"
}

header="server      QPS  proc_us/q  core_us/q  server  core_busy  avg_us  p99_us  completed   lost  resp_B  srv_p99"
row() {
	printf '%-8s %7s %10s %10s %6s%% %9s%% %7s %7s %10s %6s %7s %8s\n' "$@"
}

# median prints the median of its arguments (the lower middle one of an
# even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# field prints field $2 of every round's result of $1 (the key of the
# results array without the round): 1 qps, 2 proc_us, 3 core_us, 4
# server%, 5 core_busy%, 6 avg_us, 7 p99_us, 8 completed, 9 lost, 10
# resp_bytes, 11 Meridian's own p99 (µs, the bound of its histogram
# bucket; "-" for the other servers).
field() {
	local r fs
	for ((r = 1; r <= ROUNDS; r++)); do
		read -ra fs <<<"${results[$1.$r]}"
		echo "${fs[$2]}"
	done
}

# sum_field prints the sum over the rounds of field $2 of $1.
sum_field() {
	local s=0 v
	for v in $(field "$1" "$2"); do
		s=$((s + v))
	done
	echo "$s"
}
