#!/usr/bin/env bash
# Validates everything under deploy/ and docs/operations.md's references to
# it. Runs offline except for the Go module proxy (the Kubernetes validator's
# modules, pinned in deploy/kubernetes/validate/go.sum).
#
# Needs: go, promtool (Debian: apt-get install --no-install-recommends
# prometheus), python3 with PyYAML (Debian: python3-yaml). Uses
# systemd-analyze when present (Debian: systemd) and skips the unit checks
# otherwise.
#
# Every check runs even after one fails; the script exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GOWORK=off

passed=0
failed=0
skipped=0

# check NAME COMMAND...: runs the command, prints "ok" or its output.
check() {
	local name=$1
	shift
	local start=$SECONDS
	if "$@" >"$tmp/out" 2>&1; then
		passed=$((passed + 1))
		printf 'ok    %-62s %3ds\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1))
		printf 'FAIL  %-62s %3ds\n' "$name" $((SECONDS - start))
		sed 's/^/      /' "$tmp/out"
	fi
}

skip() {
	skipped=$((skipped + 1))
	printf 'skip  %s\n' "$1"
}

need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "deploy/check.sh: $1 not found: $2" >&2
		exit 1
	fi
}
need go "install Go"
need promtool "apt-get install -y --no-install-recommends prometheus"
need python3 "apt-get install -y python3 python3-yaml"
python3 -c 'import yaml' 2>/dev/null || {
	echo "deploy/check.sh: python3 has no yaml module: apt-get install -y python3-yaml" >&2
	exit 1
}

# Prometheus: the rules parse, and every alert behaves as its tests say.
check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml

# Grafana: the dashboard is JSON.
check "JSON syntax of deploy/grafana/meridian.json" python3 -m json.tool deploy/grafana/meridian.json

# Alerts, dashboard, metrics/*.go and docs/operations.md agree.
check "alerts, dashboard, metrics and runbooks agree (crosscheck.py)" python3 deploy/crosscheck.py "$root" promtool

# Kubernetes: kustomize build, strict decoding into the API types, and the
# objects checked against each other and the Meridian configuration inside.
check "kustomize build + API types: deploy/kubernetes" \
	go -C deploy/kubernetes/validate run . -dir "$root/deploy/kubernetes" -o "$tmp/kubernetes.yaml" \
	-root "$tmp/pod" -rules "$root/deploy/prometheus/alerts.yml"

# The configurations and zones shipped here load in Meridian itself. Paths
# that exist only on a server or in the pod point into this checkout.
check "go build ./cmd/meridian" go build -o "$tmp/meridian" ./cmd/meridian
# The state directory stands for the one systemd's StateDirectory= and the
# pod's emptyDir create before Meridian starts.
mkdir -p "$tmp/state"
meridian_check() {
	local config=$1
	shift
	env "$@" MERIDIAN_ADMIN_STATE="$tmp/state/admin_state.yaml" "$tmp/meridian" check --config "$config"
}
if [ -x "$tmp/meridian" ] && [ -d "$tmp/pod/etc/meridian/zones" ]; then
	check "meridian check: Kubernetes configuration and zones" \
		meridian_check "$tmp/pod/etc/meridian/config/meridian.yaml" MERIDIAN_ZONES="$tmp/pod/etc/meridian/zones"
	check "meridian check: deploy/systemd/meridian.yaml" \
		meridian_check deploy/systemd/meridian.yaml MERIDIAN_ZONES="$tmp/pod/etc/meridian/zones" \
		MERIDIAN_GEOIP_CITY="$root/testdata/geoip/demo-city.mmdb"
else
	failed=$((failed + 1))
	echo "FAIL  meridian check: no binary or no rendered pod files (see above)"
fi

# systemd: the units verify, and the service stays hardened. The programs
# they start are not installed here, so a copy runs /bin/true instead.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/units"
	for f in deploy/systemd/*.service deploy/systemd/*.timer deploy/systemd/*.path; do
		sed -e 's|/usr/local/bin/meridian|/bin/true|g; s|/usr/bin/geoipupdate|/bin/true|g' "$f" >"$tmp/units/$(basename "$f")"
	done
	verify_units() (cd "$tmp/units" && systemd-analyze verify ./*)
	check "systemd-analyze verify deploy/systemd/*" verify_units
	check "systemd-analyze security: meridian.service exposure <= 2.0" \
		systemd-analyze security --offline=yes --threshold=20 "$tmp/units/meridian.service"
else
	skip "systemd-analyze verify deploy/systemd/*: systemd-analyze not installed (apt-get install systemd)"
fi

echo
echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
