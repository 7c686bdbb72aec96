# vmtest: the README's commands are `make run` and `make test`.
#
#   make run      install what is missing, build, run the matrix on Debian's 6.1 kernel
#   make test     lint and cross, then install what is missing, build, run every test
#                 (unit tests under -race, then end-to-end under QEMU)
#   make lint     go.mod tidy, go vet, staticcheck (every check; staticcheck.conf)
#   make cross    the arm64 build and the macOS build of the host side
#   make compare  build 6.1 without set_tid and 6.1 as shipped, compare them
#   make bench    benchmarks (speed and memory targets)
#   make mutate   mutation score of the set_tid code (alloc_pid's set_tid
#                 block, copy_clone_args_from_user) on the minimal config

GO      ?= go
BIN     := bin/vmtest
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# qemu-system-x86 boots the guests; the rest builds kernels (vmtest build)
# and fetches Debian's kernel and source packages.
DEPS    := qemu-system-x86 git make gcc libc6-dev flex bison bc libelf-dev libssl-dev libcap-dev xz-utils dpkg-dev ca-certificates chromium libxml2-utils python3 shellcheck jq
GOFILES := $(shell find . -name '*.go' -not -path './results/*') go.mod go.sum $(wildcard configs/*.config)

.PHONY: all deps build run lint cross test test-slow test-kernels test-boot-paths compare bench mutate clean

all: build

# Installs only what is missing, so it is quick on a prepared machine.
deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@apt-cache show linux-image-amd64 >/dev/null 2>&1 || $(SUDO) apt-get update -qq

# vmtest and its guest agent, built into one directory: vmtest boots the
# vmtest-agent beside it. The agent is the guest's /init, so it must be
# static (CGO_ENABLED=0; vmtest itself needs no cgo either).
AGENT   := bin/vmtest-agent
$(BIN) $(AGENT) &: $(GOFILES)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/vmtest ./cmd/vmtest-agent

build: $(BIN) $(AGENT)

run: deps build
	./$(BIN) run --kernel debian

# The kernels the end-to-end tests boot, built (and Debian's fetched, by
# one short run) here first so that a fresh machine shows the builds'
# progress; on later runs they are cache hits. The tests only read the
# cache (VMTEST_E2E_CACHE, default ~/.cache/vmtest): a kernel missing there
# skips its tests, or fails them under VMTEST_E2E_REQUIRE=1.
test-kernels: build
	@d=$$(mktemp -d) && ./$(BIN) run --kernel debian --case clone3/plain/ver0 --out $$d/run >/dev/null; \
		rc=$$?; rm -rf $$d; exit $$rc
	./$(BIN) build >/dev/null
	./$(BIN) build --patch kernels/0001-clone3-withdraw-set_tid.patch >/dev/null
	./$(BIN) build --patch kernels/broken/pid-broken-set_tid-permission-check.patch >/dev/null
	./$(BIN) build --patch kernels/testing/warn-on-set_tid-size-3.patch >/dev/null
	./$(BIN) build --config minimal --config no-pvh >/dev/null

# Static checks, which need neither QEMU nor a kernel, so they come first.
# `go mod tidy -diff` prints what tidy would change and fails if anything
# would: go.mod must list what the imports need, direct ones not marked
# indirect. staticcheck is pinned by go.mod's tool directive, so every
# machine runs the same version; staticcheck.conf turns every check on.
lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The host side is meant to build wherever Go does: the whole module for
# arm64 Linux, and the host and shared packages for macOS (the guest agent
# is Linux-only and never built there). Cross builds have cgo off anyway.
cross:
	GOARCH=arm64 $(GO) build ./...
	GOOS=darwin $(GO) build ./host/... ./internal/...

# Lint and cross builds first (fast, and they need nothing installed);
# then the unit tests under the race detector (-short leaves out whatever
# boots a kernel); then every test, end-to-end ones included.
test: lint cross deps build test-kernels actionlint
	$(GO) test -race -short -timeout 15m ./...
	VMTEST_E2E_REQUIRE=1 $(GO) test -timeout 45m ./...
	$(MAKE) --no-print-directory test-boot-paths

# The other boot path: every end-to-end test that boots the minimal
# kernel, again on the minimal kernel built without CONFIG_PVH, which
# boots its bzImage through the kernel's own decompressor instead of the
# ELF through PVH. The comparisons then pair a kernel on each path (the
# patched builds keep PVH); mutate's mutants are built without the note.
# Not repeated: the tests of Debian's kernel alone (it has the note: its
# path is the first run's). TestBootPathTestsListed (e2e) keeps this list
# whole. About 4 minutes here (238 s), mutate's mutants most of it.
NO_PVH_KERNEL := build:config=minimal,config=no-pvh
BOOT_PATH_TESTS := TestRunBootPath|TestRunFallbackChannels|TestRunBadAgentParameter|TestRerunScript|TestRunRepeat|TestRunRepeatInterrupted|TestShardsMergeToWholeRun|TestCompareWithdrawnSetTID|TestCompareBrokenPermissionCheck|TestExitModeBisect|TestMutatePidBounds
test-boot-paths: build
	VMTEST_E2E_MINIMAL=$(NO_PVH_KERNEL) VMTEST_E2E_REQUIRE=1 $(GO) test -count=1 -timeout 20m -run '^($(BOOT_PATH_TESTS))$$' ./e2e/

# The end-to-end test that builds kernels from scratch (vmtest bisect over
# a git history of the kernel tree): tens of minutes, so not in make test.
test-slow: deps build test-kernels
	VMTEST_E2E_SLOW=1 VMTEST_E2E_REQUIRE=1 $(GO) test -timeout 90m -run 'TestBisectBrokenPermissionCheck' ./e2e/

compare: deps build
	./$(BIN) compare --base build:patch=kernels/0001-clone3-withdraw-set_tid.patch --kernel build

# vmtest mutate over the set_tid code of Debian's 6.1 tree, minimal config
# (builds the base kernel if the cache lacks it). The block of alloc_pid
# is named by its opening statement, not by line numbers, which move with
# Debian's stable updates. Survivors explained in the --explain file still
# count as survivors; the score must be at least 0.95. --out is fixed so
# that a second run reuses the scratch tree (results/mutate/tree).
MUTATE_TARGETS := --target 'kernel/pid.c:alloc_pid@if (set_tid_size) {' --target kernel/fork.c:copy_clone_args_from_user
mutate: deps build
	./$(BIN) mutate --kernel build $(MUTATE_TARGETS) --explain kernels/mutate/set_tid-explained.json --min-score 0.95 --out results/mutate

# The matrix-against-kselftests benchmark takes its own samples (9 pairs of
# runs per kernel) and NoFlakes boots each kernel 20 times, so they run
# once; the others average two runs. The mutant benchmark runs six
# mutants of the set_tid code through one pipeline (build + boot each).
bench: build
	@rc=0; \
	$(GO) test -run '^$$' -bench . -skip 'MatrixVsKselftests|NoFlakes|Mutant' -benchtime 2x -timeout 30m ./... || rc=1; \
	$(GO) test -run '^$$' -bench Mutant -benchtime 6x -timeout 30m ./host/mutate/ || rc=1; \
	$(GO) test -run '^$$' -bench MatrixVsKselftests -benchtime 1x -timeout 30m ./e2e/ || rc=1; \
	$(GO) test -run '^$$' -bench NoFlakes -benchtime 1x -timeout 40m ./e2e/ || rc=1; \
	exit $$rc

clean:
	rm -rf bin

# The GitHub Action (action.yml) and the workflows: actionlint, pinned as a
# tool in go.mod so that it runs offline, checks the workflows and, through
# `uses: ./`, their with: keys against action.yml's inputs (shellcheck on
# their run: blocks when it is installed); shellcheck checks the action's
# scripts. internal/actiontest does the same and more under go test.
.PHONY: actionlint
actionlint:
	$(GO) tool actionlint .github/workflows/*.yml .github/action/examples/*.yml
	@if command -v shellcheck >/dev/null; then \
		cd .github/action && shellcheck -x *.sh; \
	else echo "shellcheck not installed (apt-get install shellcheck): the action's scripts were not checked"; fi
