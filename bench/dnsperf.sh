#!/usr/bin/env bash
# bench/dnsperf.sh measures what one query costs Meridian, and gdnsd on the
# same data when it is installed: each server pinned to one core, dnsperf
# pinned to another, over loopback. See usage() and docs/performance.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/dnsperf.sh [-h]

Builds Meridian, starts it pinned to CPU $SERVER_CPU on 127.0.0.1:$PORT with
bench/perf/meridian.yaml, and drives it with dnsperf pinned to CPU $CLIENT_CPU
for $DURATION seconds per query file:

  static   bench/perf/static.txt    static records (A, AAAA, MX, TXT, NXDOMAIN)
  service  bench/perf/service.txt   the www service, no ECS
  ecs      bench/perf/ecs.txt       the www service with ECS from many networks
                                    (converted by bench/perf/genqueries)

When gdnsd (with geoip2) is installed, it serves the same zone from
bench/perf/gdnsd on 127.0.0.1:$PORT2, also pinned to CPU $SERVER_CPU; the two
servers take turns on each query file, $ROUNDS rounds each, so that the
machine's swings (on a shared virtual machine they reach 20 % within
minutes) fall on both alike. For every run it prints QPS, the
server's CPU time per query (the process's time on a CPU, summed over its
threads from /proc/PID/task/*/schedstat, and the busy time of the server's
core from /proc/stat, which also counts the kernel's network work done
there), average and p99 latency (from
dnsperf -v), lost queries, and per file the Meridian/gdnsd ratios of the
medians over the rounds (and the range of the per-round ratios). All
traffic stays on 127.0.0.1. Nothing is installed: dnsperf, taskset, awk
and go must be present (Debian: apt-get install dnsperf gdnsd).

Environment (defaults in brackets):
  DURATION     seconds of measured load per server, file and round [5]
  ROUNDS       rounds per file: the servers alternate in each [5]
  WARMUP       seconds of unmeasured load before each run [1]
  PORT         Meridian's UDP/TCP port on 127.0.0.1 [5399]
  PORT2        gdnsd's port on 127.0.0.1 [PORT+1]
  HTTP_PORT    Meridian's admin listener on 127.0.0.1, read for its own
               request-duration histogram [PORT+2]
  CLIENTS      dnsperf -c, client sockets [8]
  OUTSTANDING  dnsperf -q, queries in flight [500]
  RATE_CLIENTS, RATE_OUTSTANDING
               dnsperf -c and -q for the RATE runs [4, 20]: with few queries
               in flight dnsperf's own queue stays short, so its latency
               figures are the servers' (with -q 500, above ~40,000
               queries/s they are mostly dnsperf's)
  TIMEOUT      dnsperf -t, seconds before a query counts as lost [1]
  RATE         when set, one more run per server and file at dnsperf -Q RATE
               queries/s, for latency below saturation []
  SERVER_CPU   core the servers are pinned to [0]
  CLIENT_CPU   core dnsperf is pinned to [1]
  GDNSD        "0" skips gdnsd even when it is installed [1]
  GO           the go command [go]
  REV          build Meridian from this git revision (git archive into the
               temporary directory) instead of the working tree, e.g.
               REV=HEAD to leave uncommitted changes out []
  KEEP         "1" keeps the temporary directory (logs, dnsperf output) [0]

Runs take about 6 x ROUNDS x (DURATION + WARMUP) seconds plus the build and
startup (twice that with RATE). MERIDIAN_* variables and the Go runtime's
GOMAXPROCS, GOGC, GOMEMLIMIT and GODEBUG are cleared for the servers, so
the configuration is exactly bench/perf/meridian.yaml.
EOF
}

fail() {
	echo "dnsperf.sh: $*" >&2
	exit 1
}

case "${1:-}" in
-h | --help)
	usage
	exit 0
	;;
"") ;;
*)
	usage >&2
	exit 2
	;;
esac

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
PORT=${PORT:-5399}
PORT2=${PORT2:-$((PORT + 1))}
HTTP_PORT=${HTTP_PORT:-$((PORT + 2))}
CLIENTS=${CLIENTS:-8}
OUTSTANDING=${OUTSTANDING:-500}
RATE_CLIENTS=${RATE_CLIENTS:-4}
RATE_OUTSTANDING=${RATE_OUTSTANDING:-20}
TIMEOUT=${TIMEOUT:-1}
RATE=${RATE:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
GDNSD=${GDNSD:-1}
GO=${GO:-go}
KEEP=${KEEP:-0}
REV=${REV:-}

for v in DURATION ROUNDS WARMUP PORT PORT2 HTTP_PORT CLIENTS OUTSTANDING RATE_CLIENTS RATE_OUTSTANDING TIMEOUT SERVER_CPU CLIENT_CPU; do
	[[ ${!v} =~ ^[0-9]+$ ]] || fail "$v must be a whole number, got '${!v}'"
done
[[ -z $RATE || $RATE =~ ^[1-9][0-9]*$ ]] || fail "RATE must be a positive whole number, got '$RATE'"
((DURATION >= 1)) || fail "DURATION must be at least 1 second"
((ROUNDS >= 1)) || fail "ROUNDS must be at least 1"
((TIMEOUT >= 1)) || fail "TIMEOUT must be at least 1 second"
((PORT >= 1024 && PORT <= 65535 && PORT2 >= 1024 && PORT2 <= 65535 && HTTP_PORT >= 1024 && HTTP_PORT <= 65535)) || fail "PORT, PORT2 and HTTP_PORT must be in 1024-65535"
((PORT != PORT2 && HTTP_PORT != PORT && HTTP_PORT != PORT2)) || fail "PORT, PORT2 and HTTP_PORT must differ"
((SERVER_CPU != CLIENT_CPU)) || fail "SERVER_CPU and CLIENT_CPU must differ"

# The requirements: nothing is installed here.
for cmd in "$GO" dnsperf taskset awk getconf; do
	command -v "$cmd" >/dev/null || fail "$cmd not found (Debian: apt-get install dnsperf util-linux mawk; Go from go.dev)"
done
for c in "$SERVER_CPU" "$CLIENT_CPU"; do
	grep -q "^cpu$c " /proc/stat || fail "CPU $c does not exist here (nproc: $(nproc)); set SERVER_CPU and CLIENT_CPU"
done
use_gdnsd=0
if [[ $GDNSD != 0 ]]; then
	if command -v gdnsd >/dev/null; then
		features=$(gdnsd -h 2>&1 || true)
		[[ $features == *geoip2* ]] || fail "gdnsd is installed without geoip2 support (gdnsd -h lists its features); set GDNSD=0 to skip it"
		if running=$(pgrep -x gdnsd); then
			fail "gdnsd is already running (pid $(echo $running)): stop it first (systemctl stop gdnsd), it would share the server's core; or set GDNSD=0"
		fi
		use_gdnsd=1
	else
		echo "dnsperf.sh: gdnsd not installed (Debian: apt-get install gdnsd): measuring Meridian only" >&2
	fi
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[[ -f bench/perf/meridian.yaml ]] || fail "bench/perf/meridian.yaml missing under $root"
if [[ -n $REV ]]; then
	command -v git >/dev/null || fail "REV needs git"
	commit=$(git rev-parse --verify --quiet "$REV^{commit}") || fail "REV=$REV is not a commit of $root"
fi

clk_tck=$(getconf CLK_TCK)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/meridian-dnsperf.XXXXXX")
pids=()      # the servers
client_pid=  # the running dnsperf, if any

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
		echo "dnsperf.sh: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# answers reports whether a DNS server answers on 127.0.0.1:$1 within a second.
printf 'example.com SOA\n' >"$tmp/probe.txt"
answers() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$tmp/probe.txt" -n 1 -t 1 2>&1 |
		grep -Eq '^ *Queries completed: +1 '
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

# A server already answering on our ports would take part of the load (both
# servers bind with SO_REUSEPORT) or be measured instead of ours.
ports=("$PORT")
if ((use_gdnsd)); then
	ports+=("$PORT2")
fi
for p in "${ports[@]}"; do
	if answers "$p"; then
		fail "something already answers DNS on 127.0.0.1:$p: stop it or choose other PORT/PORT2"
	fi
done

echo "== $(date -u '+%Y-%m-%d %H:%M:%SZ') on $(nproc) CPUs: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -n $REV ]]; then
	echo "== building Meridian from commit $commit ($REV)"
	mkdir "$tmp/src"
	git archive "$commit" | tar -x -C "$tmp/src"
	(cd "$tmp/src" && "$GO" build -o "$tmp/meridian" ./cmd/meridian)
else
	changed=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
	echo "== building Meridian from the working tree at $(git rev-parse --short HEAD 2>/dev/null || echo '(no git)'), $changed tracked files changed"
	"$GO" build -o "$tmp/meridian" ./cmd/meridian
fi
echo "== building the ECS query generator"
"$GO" build -o "$tmp/genqueries" ./bench/perf/genqueries
"$tmp/genqueries" -o "$tmp/ecs.bin" bench/perf/ecs.txt

clean_env=(env -u GOMAXPROCS -u GOGC -u GOMEMLIMIT -u GODEBUG)
while read -r v; do
	clean_env+=(-u "$v")
done < <(compgen -e | grep '^MERIDIAN_' || true)

echo "== starting Meridian on 127.0.0.1:$PORT, pinned to CPU $SERVER_CPU"
"${clean_env[@]}" taskset -c "$SERVER_CPU" "$tmp/meridian" serve \
	--config bench/perf/meridian.yaml --listen "127.0.0.1:$PORT" --http-listen "127.0.0.1:$HTTP_PORT" >"$tmp/meridian.log" 2>&1 &
meridian_pid=$!
pids+=("$meridian_pid")
wait_ready "$PORT" Meridian "$meridian_pid" "$tmp/meridian.log"

servers=(meridian)
if ((use_gdnsd)); then
	# gdnsd reads its GeoIP database from geoip/ under its configuration
	# directory and needs writable run and state directories: work on a copy.
	gd=$tmp/gdnsd
	cp -R bench/perf/gdnsd "$gd"
	mkdir -p "$gd/geoip"
	cp testdata/geoip/demo-city.mmdb "$gd/geoip/"
	sed -i -e "s|^\([[:space:]]*listen => \).*|\1[ 127.0.0.1:$PORT2 ]|" \
		-e "s|^\([[:space:]]*run_dir => \).*|\1$tmp/gdnsd-run|" \
		-e "s|^\([[:space:]]*state_dir => \).*|\1$tmp/gdnsd-state|" "$gd/config"
	grep -q "listen => \[ 127.0.0.1:$PORT2 \]" "$gd/config" || fail "could not set the listen address in $gd/config"
	gdnsd -c "$gd" checkconf >"$tmp/gdnsd-checkconf.log" 2>&1 ||
		fail "gdnsd checkconf failed:
$(tail -n 20 "$tmp/gdnsd-checkconf.log")"
	echo "== starting gdnsd $(gdnsd -h 2>&1 | awk '/^gdnsd version/{print $3}') on 127.0.0.1:$PORT2, pinned to CPU $SERVER_CPU"
	taskset -c "$SERVER_CPU" gdnsd -c "$gd" start >"$tmp/gdnsd.log" 2>&1 &
	gdnsd_pid=$!
	pids+=("$gdnsd_pid")
	wait_ready "$PORT2" gdnsd "$gdnsd_pid" "$tmp/gdnsd.log"
	servers+=(gdnsd)
fi

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

# core_ticks prints "busy total" ticks of core $SERVER_CPU: busy is every
# non-idle field (user nice system irq softirq steal), total adds idle and
# iowait.
core_ticks() {
	awk -v c="cpu$SERVER_CPU" '$1 == c { b = $2 + $3 + $4 + $7 + $8 + $9; printf "%.0f %.0f\n", b, b + $5 + $6 }' /proc/stat
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
# port $4); $5 is "text" or "binary", $6 the -Q rate or "". It writes one
# result line to $tmp/result:
#   server qps proc_us core_us server% core_busy% avg_us p99_us completed lost resp_bytes
# where server% is the share of the core's time the server process used.
measure() {
	local name=$1 pid=$2 file=$3 port=$4 format=$5 rate=$6
	local args=(-p "$port" -d "$file")
	if [[ $format == binary ]]; then
		args+=(-B)
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
	c0=$(core_ticks)
	dnsperf_run "$tmp/run.out" "${args[@]}" -l "$DURATION" -v
	p1=$(proc_ns "$pid")
	c1=$(core_ticks)
	if [[ $name == meridian ]]; then
		h1=$(duration_buckets | tr '\n' ';')
	fi
	# One pass over dnsperf's output: a histogram of the per-query latencies
	# ("> NOERROR name type 0.000123"; timeouts are "> T name type") at 1 us
	# resolution for the p99, and the summary lines.
	awk -v name="$name" -v p0="$p0" -v p1="$p1" -v c0="$c0" -v c1="$c1" -v hz="$clk_tck" -v h0="$h0" -v h1="$h1" '
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
			want = n * 0.99; seen = 0; p99 = 0
			for (i = 0; i <= max; i++) if (i in h) { seen += h[i]; if (seen >= want) { p99 = i; break } }
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
			printf "%s %.0f %.2f %.2f %.0f %.0f %.0f %.0f %d %d %d %s\n", name, qps,
				(p1 - p0) / 1e3 / done, busy * 1e6 / hz / done,
				(total > 0 ? 100 * (p1 - p0) / 1e9 * hz / total : 0), (total > 0 ? 100 * busy / total : 0),
				avg, p99, done, lost, size, srv
		}' "$tmp/run.out" >"$tmp/result" || fail "could not read dnsperf's output for $name $file:
$(grep -v '^>' "$tmp/run.out" | tail -n 20)"
	rm -f "$tmp/run.out"
}

files=(static service ecs)
declare -A path format count results source
source[static]=bench/perf/static.txt
source[service]=bench/perf/service.txt
source[ecs]="bench/perf/ecs.txt via genqueries"
path[static]=bench/perf/static.txt
path[service]=bench/perf/service.txt
path[ecs]=$tmp/ecs.bin
format[static]=text
format[service]=text
format[ecs]=binary
count[static]=$(grep -Evc '^[[:space:]]*(;|$)' bench/perf/static.txt)
count[service]=$(grep -Evc '^[[:space:]]*(;|$)' bench/perf/service.txt)
count[ecs]=$(grep -Evc '^[[:space:]]*(#|$)' bench/perf/ecs.txt)

header="server      QPS  proc_us/q  core_us/q  server  core_busy  avg_us  p99_us  completed   lost  resp_B  srv_p99"
row() {
	printf '%-8s %7s %10s %10s %6s%% %9s%% %7s %7s %10s %6s %7s %8s\n' "$@"
}

modes=(load)
if [[ -n $RATE ]]; then
	modes+=(rate)
fi
# median prints the median of its arguments (the lower middle one of an
# even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# field prints field $2 of every round's result of $1 (file.mode.server):
# 1 qps, 2 proc_us, 3 core_us, 4 server%, 5 core_busy%, 6 avg_us, 7 p99_us,
# 8 completed, 9 lost, 10 resp_bytes, 11 Meridian's own p99 (µs, the bound
# of its histogram bucket; "-" for gdnsd).
field() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do
		read -ra fs <<<"${results[$1.$r]}"
		echo "${fs[$2]}"
	done
}

echo "== dnsperf -c $CLIENTS -q $OUTSTANDING -t $TIMEOUT, $ROUNDS rounds of $DURATION s per server after $WARMUP s of warm-up${RATE:+; then -Q $RATE -c $RATE_CLIENTS -q $RATE_OUTSTANDING}"
for f in "${files[@]}"; do
	for mode in "${modes[@]}"; do
		rate=
		label="$f: ${count[$f]} queries from ${source[$f]}, saturating"
		if [[ $mode == rate ]]; then
			rate=$RATE
			label="$f: ${count[$f]} queries, at $RATE queries/s"
		fi
		echo
		echo "-- $label"
		echo "round $header"
		for ((r = 1; r <= ROUNDS; r++)); do
			for s in "${servers[@]}"; do
				if [[ $s == meridian ]]; then
					measure meridian "$meridian_pid" "${path[$f]}" "$PORT" "${format[$f]}" "$rate"
				else
					measure gdnsd "$gdnsd_pid" "${path[$f]}" "$PORT2" "${format[$f]}" "$rate"
				fi
				read -r res <"$tmp/result"
				results[$f.$mode.$s.$r]=$res
				read -ra fields <<<"$res"
				printf '%5d ' "$r"
				row "${fields[@]}"
			done
		done
		if ((use_gdnsd)); then
			mp=$(median $(field "$f.$mode.meridian" 2))
			gp=$(median $(field "$f.$mode.gdnsd" 2))
			mc=$(median $(field "$f.$mode.meridian" 3))
			gc=$(median $(field "$f.$mode.gdnsd" 3))
			ratios=$(paste <(field "$f.$mode.meridian" 2) <(field "$f.$mode.gdnsd" 2) | awk '$2 > 0 { print $1 / $2 }' | sort -g)
			awk -v mp="$mp" -v gp="$gp" -v mc="$mc" -v gc="$gc" -v lo="$(head -n1 <<<"$ratios")" -v hi="$(tail -n1 <<<"$ratios")" -v n="$ROUNDS" 'BEGIN {
				printf "Meridian/gdnsd, medians of %d rounds: CPU per query %s (process; rounds %.2f-%.2fx), %s (core)\n", n,
					(gp > 0 ? sprintf("%.2fx", mp / gp) : "n/a"), lo, hi, (gc > 0 ? sprintf("%.2fx", mc / gc) : "n/a")
			}'
		fi
	done
done

echo
echo "== summary (markdown): medians of $ROUNDS rounds (lost: the sum); CPU time per query in microseconds, latency in microseconds"
echo
echo "| queries | server | QPS | CPU µs/query (process) | CPU µs/query (core $SERVER_CPU) | server's share of core $SERVER_CPU | core $SERVER_CPU busy | avg latency µs | p99 latency µs | lost | response bytes | server's own p99 µs, at most |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for f in "${files[@]}"; do
	for mode in "${modes[@]}"; do
		for s in "${servers[@]}"; do
			k=$f.$mode.$s
			lost=0
			for l in $(field "$k" 9); do
				lost=$((lost + l))
			done
			label=$f
			[[ $mode == rate ]] && label="$f @ $RATE/s"
			echo "| $label | $s | $(median $(field "$k" 1)) | $(median $(field "$k" 2)) | $(median $(field "$k" 3)) | $(median $(field "$k" 4))% | $(median $(field "$k" 5))% | $(median $(field "$k" 6)) | $(median $(field "$k" 7)) | $lost | $(median $(field "$k" 10)) | $(median $(field "$k" 11)) |"
		done
	done
done
echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
