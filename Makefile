# The two commands the README promises: `make run` and `make test`.
GO        ?= go
BIN       := bin
RACE      ?= -race
TESTFLAGS ?=
# Fuzz targets run their seed corpora as ordinary tests in `make test`;
# `make fuzz FUZZTIME=60s` explores further.
FUZZTIME  ?= 30s

.PHONY: all build test unit compat lint bench fuzz run clean jepsen

all: build

build:
	@mkdir -p $(BIN)
	@if ls cmd/*/main.go >/dev/null 2>&1; then $(GO) build -o $(BIN)/ ./cmd/...; fi

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if [ -f compat/go.mod ]; then cd compat && $(GO) vet ./...; fi

unit:
	$(GO) test $(RACE) -timeout 20m $(TESTFLAGS) ./...

compat:
	@if [ -f compat/go.mod ]; then cd compat && $(GO) test $(RACE) -timeout 15m $(TESTFLAGS) ./...; fi

test: lint build unit compat

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The long randomized jepsen tier: every fault scenario, JEPSEN_SEEDS times
# with fresh random seeds (each printed; JEPSEN_SEED=N replays one), 30 s of
# workload each (JEPSEN_MATRIX=1). Needs root. Failed runs are kept under
# $$TMPDIR/jepsen-runs.
JEPSEN_SEEDS ?= 3
jepsen:
	@for i in $$(seq 1 $(JEPSEN_SEEDS)); do \
	  echo "== jepsen round $$i of $(JEPSEN_SEEDS)"; \
	  log=$$(mktemp /tmp/jepsen-round-XXXXXX.log); \
	  JEPSEN_MATRIX=1 $(GO) test $(RACE) -count=1 -timeout 60m -run '^TestScenarios' -v ./jepsen/ >$$log 2>&1; rc=$$?; \
	  grep -E -- '--- |jepsen seed|RESULT|^(ok|FAIL)' $$log; \
	  if [ $$rc -ne 0 ]; then echo "full output: $$log"; exit 1; fi; rm -f $$log; \
	done

run: build
	@./scripts/run.sh

clean:
	rm -rf $(BIN) data
