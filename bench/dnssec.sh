#!/usr/bin/env bash
# bench/dnssec.sh measures what a signed answer costs Meridian, against its
# unsigned answers and against Knot DNS signing the same zone: each server
# pinned to one core, dnsperf pinned to another, over loopback. See usage()
# and docs/performance.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<'EOF'
usage: bench/dnssec.sh [-h]

Builds Meridian and serves a signed copy of the benchmark zone
(bench/perf/zones/example.com.yaml with `dnssec: {enabled: true, keys:
...}` and a key made by `meridian dnssec keygen`, all in the temporary
directory) on 127.0.0.1:$PORT, pinned to CPU $SERVER_CPU, with the
benchmark's GeoIP database (built from bench/perf/geoip.csv). Knot DNS
serves the same zone, signed by Knot (`dnssec-signing: on`, an automatic
policy with one ECDSA P-256 key, as Meridian's) with the www service from
its geoip module in geodb mode on the same database (bench/perf/knot: the
module pre-signs each region's answer when it loads), on 127.0.0.1:$PORT2,
also pinned to CPU $SERVER_CPU. Before measuring, the script asks both
servers (dig +dnssec +subnet) for www from a client subnet in every
region, and for every name of the static file, and stops if the
addresses of www differ or an answer lacks its RRSIGs.

dnsperf, pinned to CPU $CLIENT_CPU, then drives them for $DURATION
seconds per run with

  static   bench/perf/static.txt   static records (A, AAAA, MX, TXT, SRV,
                                   NODATA, NXDOMAIN)
  ecs      genqueries -ecs-mix     the www service with ECS, the mix of
                                   bench/dnsperf.sh (10,000 queries over
                                   4,000 client subnets, a tenth unmapped)

each once without the DO bit (unsigned answers) and once with it (dnsperf
-D, genqueries -do: signed answers). In each of $ROUNDS rounds every
server answers both, one after the other (unsigned first in odd rounds,
signed first in even ones), and the servers take turns, so that the
machine's swings fall on all alike. For every run it prints QPS,
the server's CPU time per query (its threads' time on a CPU, and the busy
time of its core, the wall clock less its idle time, which also counts the
kernel's network work), average
and p99 latency, lost queries and the response size; then, from the
medians over the rounds, the ratios of CPU per query: Meridian signed /
Knot signed, Meridian signed / Meridian unsigned and Knot signed / Knot
unsigned (with the range of the per-round ratios). All traffic stays on
127.0.0.1.

Nothing is installed here: dnsperf, dig, taskset, awk and go must be
present, and Knot 3 with its geoip module for the comparison (Debian:
apt-get install -y knot knot-module-geoip dnsperf bind9-dnsutils). Without
knotd (or with KNOT=0) only Meridian is measured. A knotd already running
is refused (it would share the core): stop it first (systemctl stop knot).

Environment (defaults in brackets):
  DURATION     seconds of measured load per server, file and round [5]
  ROUNDS       rounds per file [5]
  WARMUP       seconds of unmeasured load before each run [1]
  PORT         Meridian's UDP/TCP port on 127.0.0.1 [5399]
  PORT2        Knot's port on 127.0.0.1 [PORT+1]
  HTTP_PORT    Meridian's admin listener on 127.0.0.1 [PORT+2]
  CLIENTS      dnsperf -c, client sockets [8]
  OUTSTANDING  dnsperf -q, queries in flight [500]
  TIMEOUT      dnsperf -t, seconds before a query counts as lost [1]
  SERVER_CPU   core the servers are pinned to [0]
  CLIENT_CPU   core dnsperf is pinned to [1]
  KNOT         "0" skips Knot even when it is installed [1]
  GO           the go command [go]
  REV          build Meridian from this git revision instead of the
               working tree, e.g. REV=HEAD []
  KEEP         "1" keeps the temporary directory (logs, keys, the zones,
               Knot's configuration and database, the query files) [0]
  LATENCY      "0" leaves dnsperf -v out of the measured runs: no p99
               figures, but -v moves where the kernel charges its network
               work on the servers' core (docs/performance.md) [1]

Runs take about 8 x ROUNDS x (DURATION + WARMUP) seconds plus the build
and startup. MERIDIAN_* variables and GOMAXPROCS, GOGC, GOMEMLIMIT and
GODEBUG are cleared for Meridian.
EOF
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

bench_settings
KNOT=${KNOT:-1}
bench_require
command -v dig >/dev/null || fail "dig not found (Debian: apt-get install bind9-dnsutils)"
use_knot=0
if [[ $KNOT != 0 ]]; then
	if command -v knotd >/dev/null && command -v keymgr >/dev/null && command -v knotc >/dev/null; then
		knot_version=$(knotd --version | awk '{ print $NF }')
		[[ $knot_version == 3.* ]] || fail "knotd $knot_version: this script configures Knot 3; set KNOT=0 to skip it"
		if running=$(ps -C knotd -o pid=,stat= | awk '$2 !~ /^Z/ { print $1 }') && [[ -n $running ]]; then
			fail "knotd is already running (pid $(echo $running)): stop it first (systemctl stop knot), it would share the server's core; or set KNOT=0"
		fi
		use_knot=1
	else
		echo "dnssec.sh: Knot not installed (Debian: apt-get install -y knot knot-module-geoip): measuring Meridian only" >&2
	fi
fi

bench_enter_root
[[ -f bench/perf/knot/knot.conf ]] || fail "bench/perf/knot/knot.conf missing under $root"
! grep -q '^dnssec:' bench/perf/zones/example.com.yaml || fail "bench/perf/zones/example.com.yaml has a dnssec block already: the script adds its own"
bench_session meridian-dnssec

ports=("$PORT")
if ((use_knot)); then
	ports+=("$PORT2")
fi
ports_free "${ports[@]}"

bench_banner
build_meridian
"$tmp/genqueries" -ecs-mix 10000 -networks bench/perf/geoip.csv -seed 13 -spec "$tmp/ecs.txt" -o "$tmp/ecs.bin"
"$tmp/genqueries" -ecs-mix 10000 -networks bench/perf/geoip.csv -seed 13 -do -o "$tmp/ecs-do.bin"

# Meridian's signed zone: the benchmark zone with a dnssec block pointing at
# a key made now, and a configuration that reads the zones from here.
mz=$tmp/meridian-zones
mkdir -p "$mz"
mkdir -m 700 "$tmp/keys"
cp bench/perf/zones/example.com.yaml "$mz/"
printf '\n# Added by bench/dnssec.sh.\ndnssec: {enabled: true, keys: %s}\n' "$tmp/keys" >>"$mz/example.com.yaml"
"$tmp/meridian" dnssec keygen example.com. --dir "$tmp/keys" >"$tmp/keygen.out" ||
	fail "meridian dnssec keygen failed: $(cat "$tmp/keygen.out")"
sed -e "s|^zones: .*|zones: $mz|" bench/perf/meridian.yaml >"$tmp/meridian.yaml"
grep -q "^zones: $mz\$" "$tmp/meridian.yaml" || fail "could not set the zones directory in $tmp/meridian.yaml"
echo "== signing example.com. with $(head -n1 "$tmp/keygen.out") (meridian dnssec keygen)"
start_meridian "$tmp/meridian.yaml"

servers=(meridian)
if ((use_knot)); then
	kd=$tmp/knot
	cp -R bench/perf/knot "$kd"
	mkdir -p "$kd/run" "$kd/db"
	sed -i -e "s|@DIR@|$kd|g" -e "s|@PORT@|$PORT2|g" -e "s|@MMDB@|$tmp/bench-city.mmdb|g" "$kd/knot.conf"
	grep -q "listen: 127.0.0.1@$PORT2\$" "$kd/knot.conf" || fail "could not set the listen address in $kd/knot.conf"
	knotc -c "$kd/knot.conf" conf-check >"$tmp/knot-check.log" 2>&1 ||
		fail "knotc conf-check failed (is knot-module-geoip installed?):
$(tail -n 20 "$tmp/knot-check.log")"
	keymgr -c "$kd/knot.conf" example.com. generate algorithm=ecdsap256sha256 ksk=yes zsk=yes >"$tmp/keymgr.out" 2>&1 ||
		fail "keymgr generate failed: $(cat "$tmp/keymgr.out")"
	echo "== starting Knot $knot_version on 127.0.0.1:$PORT2, pinned to CPU $SERVER_CPU"
	taskset -c "$SERVER_CPU" knotd -c "$kd/knot.conf" >"$tmp/knot.log" 2>&1 &
	knot_pid=$!
	pids+=("$knot_pid")
	wait_ready "$PORT2" Knot "$knot_pid" "$tmp/knot.log"
	servers+=(knot)
fi

# dig_answer prints the answer of the server on port $1 to a DO query for
# name $2, type $3, from the client subnet $4 (none when empty), in a form
# the servers can be compared in: the rcode, then the answer section's
# records without TTLs (the SOA without its serial, which Knot raises when
# it signs), sorted, and for each type the number of RRSIGs covering it.
dig_answer() {
	local args=(@127.0.0.1 -p "$1" +norec +dnssec +tries=1 +time=2 "$2" "$3")
	if [[ -n ${4:-} ]]; then
		args+=("+subnet=$4")
	fi
	dig "${args[@]}" | awk '
		/^;; ->>HEADER<<-/ { sub(/,$/, "", $6); print "rcode", $6 }
		/^;; ANSWER SECTION:/ { answer = 1; next }
		/^$/ { answer = 0 }
		answer && $4 == "RRSIG" { sigs[$5]++; next }
		answer {
			if ($4 == "SOA") { $7 = "-" }
			r = $1
			for (i = 3; i <= NF; i++) r = r " " $i
			rr[++n] = r
		}
		END {
			for (i = 1; i <= n; i++) print "rr", rr[i]
			for (t in sigs) print "sigs", t, sigs[t]
		}' | sort
}

# has_sig reports whether the answer $1 (from dig_answer) holds an RRSIG
# over every type of its records.
has_sig() {
	awk '$1 == "rr" { types[$4] = 1 } $1 == "sigs" { signed[$2] = 1 }
		END { for (t in types) if (!(t in signed)) exit 1 }' <<<"$1"
}

# summary prints the rcode and the number of records of the answer $1
# (from dig_answer).
summary() {
	awk '$1 == "rcode" { rc = $2 } $1 == "rr" { n++ } END { printf "%s with %d records", rc, n }' <<<"$1"
}

# Wait until both servers serve the signed zone (Knot signs it after it
# starts answering), at most 30 seconds.
for s in "${servers[@]}"; do
	port=$PORT
	[[ $s == knot ]] && port=$PORT2
	deadline=$((SECONDS + 30))
	while a=$(dig_answer "$port" example.com. DNSKEY) && ! { has_sig "$a" && [[ $a == *"rr example.com. IN DNSKEY"* ]]; }; do
		((SECONDS < deadline)) || fail "$s does not serve a signed DNSKEY RRset after 30s; its log:
$(tail -n 20 "$tmp/$s.log")"
		sleep 0.2
	done
done
if ((use_knot)) && grep -q 'mod-geoip.*failed' "$tmp/knot.log"; then
	fail "Knot's geoip module did not load:
$(grep 'mod-geoip' "$tmp/knot.log" | tail -n 5)"
fi

# The sample: www from a client subnet of every region (and of the regions
# Meridian reaches by distance), from one in no network of the database and
# without ECS; then every name of the static file.
echo "== asking both servers for a sample of signed answers (dig +dnssec)"
subnets=(
	"" 24.48.0.0/24 190.56.0.0/24 181.48.0.0/24 1.2.3.0/24 2600:1::/56 2801:1::/56
	85.176.0.0/24 41.0.0.0/24 2a02:1::/56 2c0f:1::/56
	126.0.0.0/24 1.128.0.0/24 2400:1::/56 2404:1::/56
	177.0.0.0/24 190.232.0.0/24 157.150.0.0/24 2804:1::/56 2a0f:1::/56
)
checked=0
for net in "${subnets[@]}"; do
	for t in A AAAA; do
		m=$(dig_answer "$PORT" www.example.com. "$t" "$net")
		has_sig "$m" && [[ $m == *"rr www.example.com. IN $t"* ]] ||
			fail "Meridian's answer to www $t from ${net:-127.0.0.1} is not a signed $t RRset:
$m"
		if ((use_knot)); then
			k=$(dig_answer "$PORT2" www.example.com. "$t" "$net")
			[[ $m == "$k" ]] || fail "Meridian and Knot answer www $t from ${net:-127.0.0.1} differently:
Meridian:
$m
Knot:
$k"
		fi
		checked=$((checked + 1))
	done
done
if ((use_knot)); then
	echo "   www: the same signed addresses from both servers for ${#subnets[@]} client subnets, A and AAAA ($checked questions)"
else
	echo "   www: signed addresses from Meridian for ${#subnets[@]} client subnets, A and AAAA ($checked questions)"
fi
same=0 differ=()
while read -r name type; do
	m=$(dig_answer "$PORT" "$name." "$type")
	has_sig "$m" || fail "Meridian's answer to $name $type lacks an RRSIG:
$m"
	if ((use_knot)); then
		k=$(dig_answer "$PORT2" "$name." "$type")
		has_sig "$k" || fail "Knot's answer to $name $type lacks an RRSIG:
$k"
		if [[ $m == "$k" ]]; then
			same=$((same + 1))
		else
			differ+=("$name $type: Meridian $(summary "$m"), Knot $(summary "$k")")
		fi
	fi
done < <(grep -Ev '^[[:space:]]*(;|$)' bench/perf/static.txt)
if ((use_knot)); then
	echo "   static: $same names answered alike, signed; ${#differ[@]} differ, as their denial of existence does:"
	for d in "${differ[@]}"; do
		echo "     $d"
	done
	echo "   (Meridian proves a name or type absent with compact denial, RFC 9824: NOERROR and one NSEC at the name;"
	echo "   Knot with its NSEC chain: NXDOMAIN, or NODATA, and the NSEC records that cover the name and the wildcard)"
fi

kinds=(static ecs)
answers_kinds=(unsigned signed)
declare -A path format flags count origin results
origin[static]=bench/perf/static.txt
origin[ecs]="genqueries -ecs-mix over bench/perf/geoip.csv"
path[static.unsigned]=bench/perf/static.txt
path[static.signed]=bench/perf/static.txt
path[ecs.unsigned]=$tmp/ecs.bin
path[ecs.signed]=$tmp/ecs-do.bin
format[static]=text
format[ecs]=binary
flags[static.unsigned]=
flags[static.signed]=do
flags[ecs.unsigned]=
flags[ecs.signed]=
count[static]=$(grep -Evc '^[[:space:]]*(;|$)' bench/perf/static.txt)
count[ecs]=$(grep -Evc '^[[:space:]]*(#|$)' "$tmp/ecs.txt")

# ratio prints the ratio of the medians of field $3 of $1 and $2 (keys of
# results without the round) and the range of the per-round ratios.
ratio() {
	local a b rs
	a=$(median $(field "$1" "$3"))
	b=$(median $(field "$2" "$3"))
	rs=$(paste <(field "$1" "$3") <(field "$2" "$3") | awk '$2 > 0 { print $1 / $2 }' | sort -g)
	awk -v a="$a" -v b="$b" -v lo="$(head -n1 <<<"$rs")" -v hi="$(tail -n1 <<<"$rs")" 'BEGIN {
		if (b > 0) printf "%.2fx (rounds %.2f-%.2fx)\n", a / b, lo, hi; else print "n/a"
	}'
}

# The ratios the issue asks for, as "label numerator denominator".
comparisons=("Meridian signed / Meridian unsigned|meridian.signed|meridian.unsigned")
if ((use_knot)); then
	comparisons=(
		"Meridian signed / Knot signed|meridian.signed|knot.signed"
		"${comparisons[@]}"
		"Knot signed / Knot unsigned|knot.signed|knot.unsigned"
		"Meridian unsigned / Knot unsigned|meridian.unsigned|knot.unsigned"
	)
fi

echo "== dnsperf -c $CLIENTS -q $OUTSTANDING -t $TIMEOUT, $ROUNDS rounds of $DURATION s per server and answers after $WARMUP s of warm-up"
for k in "${kinds[@]}"; do
	echo
	echo "-- $k: ${count[$k]} queries from ${origin[$k]}, saturating; unsigned (no DO bit) and signed (DO)"
	echo "round answers  $header"
	for ((r = 1; r <= ROUNDS; r++)); do
		# Odd rounds ask each server for unsigned answers first, even rounds
		# for signed ones first.
		order=("${answers_kinds[@]}")
		if ((r % 2 == 0)); then
			order=("${answers_kinds[1]}" "${answers_kinds[0]}")
		fi
		for s in "${servers[@]}"; do
			for a in "${order[@]}"; do
				if [[ $s == meridian ]]; then
					measure meridian "$meridian_pid" "${path[$k.$a]}" "$PORT" "${format[$k]}" "" "${flags[$k.$a]}"
				else
					measure knot "$knot_pid" "${path[$k.$a]}" "$PORT2" "${format[$k]}" "" "${flags[$k.$a]}"
				fi
				read -r res <"$tmp/result"
				results[$k.$s.$a.$r]=$res
				read -ra fields <<<"$res"
				printf '%5d %-8s ' "$r" "$a"
				row "${fields[@]}"
			done
		done
	done
	for c in "${comparisons[@]}"; do
		IFS='|' read -r label num den <<<"$c"
		echo "$label, CPU per query: $(ratio "$k.$num" "$k.$den" 2) by process, $(ratio "$k.$num" "$k.$den" 3) by core $SERVER_CPU"
	done
done

echo
echo "== summary (markdown): medians of $ROUNDS rounds (lost: the sum); CPU time per query in microseconds, latency in microseconds"
echo
echo "| queries | server | answers | QPS | CPU µs/query (process) | CPU µs/query (core $SERVER_CPU) | server's share of core $SERVER_CPU | core $SERVER_CPU busy | avg latency µs | p99 latency µs | lost | response bytes |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for k in "${kinds[@]}"; do
	for s in "${servers[@]}"; do
		for a in "${answers_kinds[@]}"; do
			key=$k.$s.$a
			echo "| $k | $s | $a | $(median $(field "$key" 1)) | $(median $(field "$key" 2)) | $(median $(field "$key" 3)) | $(median $(field "$key" 4))% | $(median $(field "$key" 5))% | $(median $(field "$key" 6)) | $(median $(field "$key" 7)) | $(sum_field "$key" 9) | $(median $(field "$key" 10)) |"
		done
	done
done
echo
echo "| queries | ratio of CPU per query | process | core $SERVER_CPU |"
echo "| --- | --- | ---: | ---: |"
for k in "${kinds[@]}"; do
	for c in "${comparisons[@]}"; do
		IFS='|' read -r label num den <<<"$c"
		echo "| $k | $label | $(ratio "$k.$num" "$k.$den" 2) | $(ratio "$k.$num" "$k.$den" 3) |"
	done
done
echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
