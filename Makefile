# Meridian's developer commands. `make run` serves the demo on
# 127.0.0.1:5353; `make test` runs every test.
GO       ?= go
FUZZTIME ?= 3s
BIN      ?= bin/meridian
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Each fuzz target as package:Target; `make fuzz FUZZTIME=5m` runs them longer.
FUZZ_TARGETS = ./dns/server:FuzzServe ./dns/server:FuzzFastPath ./zones:FuzzLoad ./dns/ecs:FuzzParse

SOAK_DURATION ?= 60s
BENCH_DURATION ?= 5

.PHONY: build run test vet fuzz deploy-check bench bench-smoke soak clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/meridian

run:
	$(GO) run ./cmd/meridian serve --config testdata/demo/meridian.yaml

test: vet
	$(GO) test -race -count=1 ./...
	$(MAKE) bench-smoke
	$(MAKE) fuzz
	$(MAKE) deploy-check

# Every benchmark once, so a benchmark whose setup broke fails the tests
# instead of the next measurement.
bench-smoke:
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./...

# Prometheus rules and their tests, the dashboard, the Kubernetes base and
# the systemd units (needs promtool: apt-get install prometheus).
deploy-check:
	bash deploy/check.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# Go micro-benchmarks, then Meridian (and gdnsd, when installed) under
# dnsperf: server CPU per query, QPS and latency (docs/performance.md).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=1s ./dns/... ./routing/ ./geo/ ./zones/
	$(GO) test -run='^$$' -bench='StatusGet|ProbeTCP' -benchmem -benchtime=1s ./healthcheck/
	GO=$(GO) DURATION=$(BENCH_DURATION) bash bench/dnsperf.sh

# Load plus zone rewrites, flapping health targets and GeoIP swaps
# (docs/reliability.md); `make soak SOAK_DURATION=5m`.
soak:
	$(GO) run ./bench/soak -duration $(SOAK_DURATION)

clean:
	rm -rf bin
