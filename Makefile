# Meridian's developer commands. `make run` serves the demo on
# 127.0.0.1:5353; `make test` runs every test.
GO       ?= go
FUZZTIME ?=
BIN      ?= bin/meridian
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Each fuzz target as package:Target:budget. The budgets are counts of
# inputs, about 3 seconds each here: a duration budget races Go's fuzzing
# coordinator, which can then fail a target at the deadline with "context
# deadline exceeded" and no failing input (go.dev/issue/75804, fixed in Go
# 1.27). `make fuzz FUZZTIME=5m` runs every target for that long instead.
FUZZ_TARGETS = ./dns/server:FuzzServe:6000x ./dns/server:FuzzFastPath:5000x ./zones:FuzzLoad:3000x ./dns/ecs:FuzzParse:100000x

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
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest#*:}; \
		if [ -n "$(FUZZTIME)" ]; then budget=$(FUZZTIME); fi; \
		echo "fuzz $$pkg $$name for $$budget"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$budget $$pkg; \
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
