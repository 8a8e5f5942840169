#!/usr/bin/env bash
# bench/bigzone/measure.sh measures loading, serving and reloading the big
# zone that gen.sh writes: `meridian check` time and peak memory, the
# server's memory once serving, and a SIGHUP reload (time until a changed
# record is answered, peak memory, and that queries are answered from the
# old data meanwhile). Every query goes to 127.0.0.1; every loop is bounded.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/bigzone/measure.sh DIR

DIR is made by bench/bigzone/gen.sh (it is generated when missing).
Needs go, dig and /usr/bin/time (Debian: time, bind9-dnsutils).
Environment: PORT [5398] must match the one gen.sh wrote.
EOF
}

[[ $# -eq 1 && $1 != -h && $1 != --help ]] || {
	usage >&2
	exit 2
}
dir=$1
PORT=${PORT:-5398}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

for tool in go dig /usr/bin/time; do
	command -v "$tool" >/dev/null || {
		echo "measure.sh: $tool is missing" >&2
		exit 1
	}
done
[[ -f $dir/meridian.yaml ]] || PORT=$PORT "$here/gen.sh" "$dir"

bin=$(mktemp -d)/meridian
(cd "$root" && go build -o "$bin" ./cmd/meridian)

echo "== meridian check"
/usr/bin/time -f "check: %e s wall, %M KB peak RSS" "$bin" check --config "$dir/meridian.yaml" >/dev/null

ask() { dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 "$@" 2>/dev/null || true; }
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }

echo "== serving"
start=$(date +%s.%N)
"$bin" serve --config "$dir/meridian.yaml" >"$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for ((i = 0; i < 600; i++)); do
	[[ $(ask h1.big.example A) == 10.0.0.1 ]] && break
	kill -0 $pid 2>/dev/null || {
		cat "$dir/serve.log" >&2
		exit 1
	}
	sleep 0.1
done
[[ $(ask h1.big.example A) == 10.0.0.1 ]] || {
	echo "measure.sh: the server did not answer within 60 s" >&2
	exit 1
}
echo "first answer after $(echo "$(date +%s.%N) - $start" | bc) s; RSS $(kb VmRSS) KB"
[[ $(ask s5.big.example A) == 192.0.2.6 ]] || echo "measure.sh: service s5 did not answer as expected" >&2

echo "== SIGHUP reload with one changed record"
echo "changed IN A 10.255.255.1" >>"$dir/zones/big.example.zone"
trap 'kill $pid 2>/dev/null || true; sed -i "/^changed IN A/d" "$dir/zones/big.example.zone"' EXIT
start=$(date +%s.%N)
kill -HUP $pid
old=0 seen=""
for ((i = 0; i < 600; i++)); do
	seen=$(ask changed.big.example A)
	[[ $seen == 10.255.255.1 ]] && break
	# Meanwhile the old snapshot answers.
	[[ $(ask h2.big.example A) == 10.0.0.2 ]] && old=$((old + 1))
	sleep 0.1
done
[[ $seen == 10.255.255.1 ]] || {
	echo "measure.sh: the reload was not visible within 60 s" >&2
	exit 1
}
echo "reload visible after $(echo "$(date +%s.%N) - $start" | bc) s; $old answers from the old data meanwhile"
echo "RSS after the reload $(kb VmRSS) KB, peak $(kb VmHWM) KB"
