# warren — see README.md. Every target works on a fresh clone: Go fetches
# the modules it needs from the proxy.
GO        ?= go
BIN       := bin/warren
PKGS      := ./...
# Every package runs under -race: most start goroutines or processes.
# go test starts packages in the order listed, -p (the cores) at a time:
# the five longest go first, so that none starts last and runs alone (the
# short ones fill the other core while isolate runs).
RACE_PKGS := ./replication ./node ./isolate ./cmd/warren ./testnet ./...
EX        ?= examples/hello.ts

# Python (docs/python.md): `make python` builds python.wasm and the stdlib
# zip into PYDIR; `make build` embeds them (build tag warren_python) when
# they could be built, and builds without Python otherwise.
PYDIR     := build/python
PYEMBED   := isolate/internal/pyrun/embedded

.PHONY: stop all build run test test-race test-norace test-patches test-patches-busy test-short bench soak fuzz lint fmt vet cross clean clean-python python bin/warren bin/bench

all: build

# The binaries by name always rebuild (go build is incremental): without a
# rule, make took an existing bin/warren, however old, as up to date.
bin/warren: build

bin/bench:
	$(GO) build -o bin/bench ./bench

python:
	./scripts/build-python.sh

# warren is built without cgo: a static binary that runs on any Linux of its
# architecture, and 1.5 ms less CPU for every process it starts (each sandbox
# worker is one: 11-13 ms with cgo's dynamic loading, 9.4-11 ms without).
build:
	@if ./scripts/build-python.sh; then \
		mkdir -p $(PYEMBED) && cp $(PYDIR)/python.wasm $(PYDIR)/stdlib.zip $(PYEMBED)/ && \
		echo "CGO_ENABLED=0 $(GO) build -tags warren_python -o $(BIN) ./cmd/warren" && \
		CGO_ENABLED=0 $(GO) build -tags warren_python -o $(BIN) ./cmd/warren; \
	else \
		echo "WARNING: make python failed: building warren without Python" >&2; \
		CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/warren; \
	fi

# run: build, then run the example Workers in the embedded runtime (sandboxed).
run: build
	@./scripts/demo.sh $(BIN)

# The Python tests fail (not skip) here without the artifacts. The memory
# corpus, most Python tests, the Go wasm modules' compilation and the
# 10,000-key rebalancing run without -race, where goja, wazero and the
# write path run at their real speed (they skip themselves under -race). TESTFLAGS adds
# flags to both steps (-json for each test's duration, -v).
#
# vet, the race run and the run without -race go side by side (make -j3).
# The run without -race also takes the tests whose work the race detector
# slows tenfold without a concurrency of their own to check (compiling Go
# wasm modules, the 10,000-key rebalancing): they were most of the race
# run's critical path. The isolate package's hostile corpus runs after both,
# alone and without -race (9 s): its 2 s a case are about the code as
# built (the race detector's shadow memory made a memory case take 2.2 s)
# on a machine not saturated by the race run beside it (a case whose
# native loop does not look at the interrupt ended at 2.36 s there). The
# rebalancing runs after both, on its own: its 10,000 writes beside the
# race run's replication tests, whose groups keep short timeouts, moved a
# leader under one of them. The race run tests three packages at a time
# (-p 3, where go test's default is the two CPUs): its longest packages,
# replication and node, mostly wait (raft timeouts, processes starting),
# and the run used about 1.1 of the 2 cores with two at a time. With three,
# make test took 6:10 against 7:48 (Python already built): replication
# 250 s against 248, node 264 against 239, and the rest beside them.
test: python
	@$(MAKE) --no-print-directory -j3 vet test-race test-norace test-patches-busy
	GO=$(GO) ./scripts/test-patches.sh raft
	$(GO) test $(TESTFLAGS) -count=1 -timeout 10m -run 'TestHostileScripts|TestNodeCompatHostile' ./isolate
	$(GO) test $(TESTFLAGS) -count=1 -timeout 10m -run 'TestClusterRebalances' ./replication

test-race:
	WARREN_REQUIRE_PYTHON=1 WARREN_PYTHON_DIR=$(CURDIR)/$(PYDIR) $(GO) test $(TESTFLAGS) -count=1 -race -p 3 -timeout 25m $(RACE_PKGS)

test-norace:
	WARREN_REQUIRE_PYTHON=1 WARREN_PYTHON_DIR=$(CURDIR)/$(PYDIR) $(GO) test $(TESTFLAGS) -count=1 -timeout 10m -run 'TestMemoryCorpus|TestDecodeCode|TestPython|TestWasmEcho|TestWasmDeepNestingCompiles|TestGoWasmFromJS|TestDiskCache|TestTidyAfterGarbage|TestStarvedCallCompletes|TestObjectSQLBounds|TestFetchBodyOfNULs|TestRPCDecodeInterrupted' ./isolate ./isolate/internal/wasmrun

# The tests that warren's patches to the modules in third_party add (about
# 30 s of CPU; each module's whole suite is run by hand when a patch
# changes). make test runs raft's alone, after the packages: with raft's
# 50 ms test timeouts, a loaded machine starts elections that its timing
# tests do not expect.
test-patches:
	GO=$(GO) ./scripts/test-patches.sh

test-patches-busy:
	GO=$(GO) ./scripts/test-patches.sh -raft

test-short:
	$(GO) test -count=1 -short $(PKGS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

# Each group runs in a fresh process: a process that already ran the
# isolate benchmarks measures the mesh ones slower (its heap and threads).
bench: build bin/bench
	bin/bench -only isolate/ -out bench/results.json
	bin/bench -only mesh/ -out bench/results.json
	bin/bench -only replication/ -out bench/results.json
	bin/bench -only objects -out bench/results.json

soak: build bin/bench
	bin/bench -soak 1000000
	WARREN_CHAOS=2m $(GO) test -count=1 -race -timeout 10m -run TestChaos -v ./node
	WARREN_LIN_DURATION=1m WARREN_LIN_SEEDS=5 $(GO) test -count=1 -timeout 20m -run TestLinearizableUnderFaults -v ./replication

# fuzz: every fuzz target for FUZZTIME each (make test runs their seed
# corpora only), each in its own directory, so that the patched modules in
# third_party (raft's compact encoding) are fuzzed too. Minimizing an input is bounded by FUZZMINTIME: by default
# (60 s) a target whose executions are slow to snapshot, such as node's,
# spends all of a short FUZZTIME minimizing its first new input.
FUZZTIME ?= 10s
FUZZMINTIME ?= 2s
fuzz:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		pkg=$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "$$pkg $$t"; $(GO) -C $$pkg test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) . || exit 1; \
		done; \
	done

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

cross:
	@for os in linux darwin windows; do for arch in amd64 arm64; do \
		echo "build $$os/$$arch"; GOOS=$$os GOARCH=$$arch $(GO) build -o /dev/null ./cmd/warren || exit 1; \
	done; done

clean:
	rm -rf bin $(PYEMBED)

# clean-python: also the Python build (sources, objects, artifacts).
clean-python:
	rm -rf build/python build/python-work $(PYEMBED)

# stop: end the mesh that `make run` left running.
stop:
	@test -x $(BIN) && $(BIN) testnet down --dir .testnet || true
