# Meridian's developer commands. `make run` serves the demo on
# 127.0.0.1:5353; `make test` runs every test.
GO       ?= go
FUZZTIME ?= 3s
BIN      ?= bin/meridian
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Each fuzz target as package:Target; `make fuzz FUZZTIME=5m` runs them longer.
FUZZ_TARGETS = ./dns/server:FuzzServe ./zones:FuzzLoad

.PHONY: build run test vet fuzz bench clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/meridian

run:
	$(GO) run ./cmd/meridian serve --config testdata/demo/meridian.yaml

test: vet
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

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

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

clean:
	rm -rf bin
