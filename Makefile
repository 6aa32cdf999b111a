# redferry — build, test, demo, bench.
GO      ?= go
SERVERS ?= $(CURDIR)/.cache/servers
export REDFERRY_SERVERS := $(SERVERS)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# Packages whose tests exercise concurrency run under the race detector.
RACE_PKGS := ./pkg/spool/... ./pkg/status/... ./internal/faultproxy/... ./protocol/... ./sink/... ./pkg/sentinel/...
FUZZTIME  ?= 15s

.PHONY: all build servers servers-test test lint unit fuzz fidelity scan-matrix streams cluster-targets cluster-matrix demo bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/redferry ./cmd/redferry

# Real Redis and Valkey servers from Debian's archive (see scripts/redis-servers.sh).
servers:
	bash scripts/redis-servers.sh $(SERVERS)

# The fetch into a fresh cache on a machine whose apt state says Debian's own
# redis and valkey are installed and pinned (scripts/redis_servers_test.go).
servers-test:
	REDFERRY_FETCH_TEST=1 $(GO) test -count=1 -run '^TestServerFetchIgnoresInstalledPackages$$' -v -timeout 15m ./scripts/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 30m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

# Scan mode under load: both modes (--live and one-shot) for every version
# pair; `make test` runs one mode per pair.
scan-matrix: servers
	REDFERRY_SCAN_MATRIX=1 $(GO) test -count=1 -run '^(TestScanUnderLoad|TestScanClusterFailover)$$' -v -timeout 20m ./pkg/scan/

# Cluster sources on every cluster-capable version (6.0+); `make test` runs
# one version per scenario.
cluster-matrix: servers
	REDFERRY_CLUSTER_MATRIX=1 $(GO) test -count=1 -v -timeout 30m ./pkg/clustersource/

# Every fuzz target, a bounded time each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    GO="$(GO)" scripts/fuzz-one.sh $$pkg $$f $(FUZZTIME); \
	  done; \
	done

test: servers servers-test lint unit fuzz

# Every write command of every supported version through every version pair
# (internal/fidelity, about 10 minutes); `make test` runs a subset of 7 pairs.
# The matrix and the failures are written to fidelity-report.md.
fidelity: servers
	REDFERRY_FIDELITY=all REDFERRY_FIDELITY_REPORT=$(CURDIR)/fidelity-report.md \
	  $(GO) test -count=1 -run '^TestFidelity$$' -timeout 60m ./internal/fidelity/

# Streams with pending entries whose message is gone, rebuilt by commands
# through all 49 version pairs (about a minute); `make test` runs 6 pairs.
streams: servers
	REDFERRY_STREAMS=all $(GO) test -count=1 -run '^TestRebuildPendingWithoutMessage$$' ./pkg/replay/

# Standalone sources into clusters with replicas (slot migration, failover,
# restart under a cross-slot load) for 7 version pairs; `make test` runs one.
cluster-targets: servers
	REDFERRY_CLUSTER_MATRIX=1 $(GO) test -count=1 -run '^(TestSyncIntoCluster|TestSyncIntoLegacyCluster)$$' -v -timeout 20m ./pkg/syncer/

demo: build servers
	bash scripts/demo.sh

# Side by side on real servers: native replication and raw ingest against
# redferry (bench/bench_test.go; knobs BENCH_* there); the table is printed
# and written to bench-results/latest.json. Then the Go micro-benchmarks.
bench: build servers
	REDFERRY_BENCH=1 REDFERRY_BIN=$(CURDIR)/bin/redferry $(GO) test -count=1 -run '^TestBench$$' -v -timeout 90m ./bench/
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./sink/ ./protocol/ ./pkg/spool/ ./bench/

clean:
	rm -rf bin

# Rollback-ready cutover through more version pairs than `make test` runs.
.PHONY: rollback-matrix
rollback-matrix: servers
	REDFERRY_ROLLBACK_MATRIX=1 $(GO) test -count=1 -run '^TestRollbackReadyCutover$$' -v -timeout 20m ./cmd/redferry/
