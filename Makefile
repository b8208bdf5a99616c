# ltv-stream: the usual targets. `make demo` and `make test` are the two
# commands the README starts with; both work with only Go installed
# (`make test` installs redis-server and chromium with apt-get when they
# are missing).

GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s

# docker-build needs a Docker engine (not available on CI machines).
.PHONY: all build demo bench-api test validate-deploy validate-asyncapi docker-build test-race test-short chaos deps-test fuzz bench bench-go lint fmt vet clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

# The demo prints the dashboard's URL (http://127.0.0.1:8081/) and, with
# --stay, keeps running after its summary until Ctrl-C.
DEMO_ARGS ?= --stay
demo:
	$(GO) run ./cmd/demo $(DEMO_ARGS)

# Installs what the tests need (redis-server), then runs every test,
# including the fuzz seed corpora and the end-to-end integration tests
# against a real redis-server and a Kafka-protocol broker.
# The validation of docker-compose.yml and deploy/ and the AsyncAPI check
# of docs/asyncapi.yaml are part of it (see scripts/test.sh: their tools
# install at low priority while the tests run).
test: deps-test
	@GO="$(GO)" PKGS="$(PKGS)" ./scripts/test.sh

# Offline validation of docker-compose.yml and deploy/ (kustomize +
# kubectl-validate); installs the tools into bin/tools on first use.
validate-deploy:
	@./scripts/validate-deploy.sh

# docs/asyncapi.yaml checked by the AsyncAPI parser (npm @asyncapi/parser,
# pinned in tools/asyncapi); installs Node.js with apt-get if missing.
validate-asyncapi:
	@./scripts/validate-asyncapi.sh

test-race: deps-test
	$(GO) test -race -count=1 -timeout 60m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# The crash test alone (also part of `make test`); CHAOS_RUNS=5 repeats it.
CHAOS_RUNS ?= 1
chaos: deps-test
	$(GO) test -count=$(CHAOS_RUNS) -timeout 30m -run 'TestChaos' -v ./internal/e2e

deps-test:
	@./scripts/ensure-redis.sh
	@./scripts/ensure-chromium.sh

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./internal/decode
	$(GO) test -run='^$$' -fuzz='^FuzzAgreesWithShopspring$$' -fuzztime=$(FUZZTIME) ./internal/money
	$(GO) test -run='^$$' -fuzz='^FuzzRoundFloatAgreesWithShopspring$$' -fuzztime=$(FUZZTIME) ./internal/money
	$(GO) test -run='^$$' -fuzz='^FuzzExactAgreesWithShopspring$$' -fuzztime=$(FUZZTIME) ./internal/money
	$(GO) test -run='^$$' -fuzz='^FuzzParseBlob$$' -fuzztime=$(FUZZTIME) ./internal/store
	$(GO) test -run='^$$' -fuzz='^FuzzParseStoredTime$$' -fuzztime=$(FUZZTIME) ./internal/store
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSnapshot$$' -fuzztime=$(FUZZTIME) ./internal/store
	$(GO) test -run='^$$' -fuzz='^FuzzScore$$' -fuzztime=$(FUZZTIME) ./internal/clv
	$(GO) test -run='^$$' -fuzz='^FuzzParseBatchBody$$' -fuzztime=$(FUZZTIME) ./internal/api
	$(GO) test -run='^$$' -fuzz='^FuzzAgreement$$' -fuzztime=$(FUZZTIME) ./schemas
	$(GO) test -run='^$$' -fuzz='^FuzzParseFile$$' -fuzztime=$(FUZZTIME) ./internal/config
	$(GO) test -run='^$$' -fuzz='^FuzzJSONLReader$$' -fuzztime=$(FUZZTIME) ./internal/sim
	$(GO) test -run='^$$' -fuzz='^FuzzReadSummaryCSV$$' -fuzztime=$(FUZZTIME) ./cmd/ltvctl

# The end-to-end benchmark (issue 4): 3 runs of 1,000,000 events over
# 200,000 customers through the real consumer binary, a real redis-server
# and the Kafka-protocol broker over loopback, each followed by the scale
# series (the same events over 50,000 and 500,000 customers), plus the
# hot-path `go test -bench -benchmem`; writes docs/benchmarks.md and
# docs/benchmarks.png. About 12 minutes on 2 cores. Run it on a quiet
# machine: everything shares the cores. BENCH_ARGS="-runs 1 -events 200000"
# for a quick look (see `go run ./cmd/ltv-bench -h`).
BENCH_ARGS ?=
bench: deps-test
	$(GO) run ./cmd/ltv-bench $(BENCH_ARGS)

# The read API benchmark: ltvctl serve over a redis-server with 200,000
# customers; single GET p99 at 2,000 requests/s, batchGet of 100 p99, and
# the maximum requests/s. Writes docs/benchmarks-api.md (about a minute).
BENCH_API_ARGS ?=
bench-api: deps-test
	$(GO) run ./cmd/api-bench $(BENCH_API_ARGS)

# Only the Go micro-benchmarks (decode, aggregate, store, pipeline).
bench-go: deps-test
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/...

# gofmt and golangci-lint (.golangci.yml, installed into bin/tools on
# first use). make test checks gofmt, and runs golangci-lint once this has
# installed it.
lint: vet
	@./scripts/lint.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

docker-build:
	docker build -t ltv-stream:local .

clean:
	rm -rf bin
