#!/usr/bin/env bash
# bench/bigzone/gen.sh writes the zone-loading scale test of
# docs/performance.md into a directory: a zone of RECORDS static A records
# (a records_file of "hN IN A 10.x.y.z" lines) and SERVICES services of two
# endpoints each (regions us and eu), plus a meridian.yaml serving it on
# 127.0.0.1:$PORT. The addresses are zone data only: nothing is ever sent
# to them (the services have no health checks).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/bigzone/gen.sh DIR

Environment (defaults in brackets):
  RECORDS   static A records [1000000]
  SERVICES  services [10000]
  PORT      the port meridian.yaml listens on, on 127.0.0.1 [5398]
EOF
}

[[ $# -eq 1 && $1 != -h && $1 != --help ]] || {
	usage >&2
	exit 2
}
dir=$1
RECORDS=${RECORDS:-1000000}
SERVICES=${SERVICES:-10000}
PORT=${PORT:-5398}

mkdir -p "$dir/zones"
cat >"$dir/meridian.yaml" <<EOF
listen: ["127.0.0.1:$PORT"]
zones: $dir/zones
http: {listen: "127.0.0.1:0"}
log: {level: warn}
EOF

awk -v n="$RECORDS" 'BEGIN {
	print "$TTL 300"
	for (i = 0; i < n; i++)
		printf "h%d IN A 10.%d.%d.%d\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
}' >"$dir/zones/big.example.zone"

{
	cat <<'EOF'
zone: big.example.
soa: {mname: ns1.big.example., rname: h.big.example., serial: 1}
ns: [ns1.big.example.]
records_file: big.example.zone
regions:
  us: { location: [39.04, -77.49], countries: [US] }
  eu: { location: [53.35, -6.26], continents: [EU] }
services:
EOF
	awk -v n="$SERVICES" 'BEGIN {
		for (i = 0; i < n; i++) {
			printf "  s%d:\n    endpoints:\n", i
			printf "      - { region: us, address: 192.0.2.%d }\n", i % 250 + 1
			printf "      - { region: eu, address: 198.51.100.%d }\n", i % 250 + 1
		}
	}'
} >"$dir/zones/big.yaml"

echo "wrote $dir: $RECORDS records, $SERVICES services; serve with: meridian serve --config $dir/meridian.yaml"
