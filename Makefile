# kdp — quick start: `make demo`, `make test`. See README.md.
SWIFT ?= swift
KDP_DEBUG := .build/debug/kdp
KDP_RELEASE := .build/release/kdp

.PHONY: all deps build release demo test bench golden clean fuzz

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job on the embedded default topology: a pod reaches a Service, hop by hop, and back;
# then a capture recorded from the real kernel (captures/README.md) replayed through the cluster.
demo: build
	$(KDP_DEBUG) trace --from pod/default/client --to service/default/web:80
	$(KDP_DEBUG) replay captures/demo.pcapng --at pod/default/client --packets 8 --quiet
	$(KDP_DEBUG) verify

# Every test: unit, CLI and (under CI=true, as root) the kernel checks in network namespaces.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

# A longer fuzz run than CI's: every parser fed mutated inputs (Tests/KdpTests/FuzzTests.swift),
# KDP_FUZZ_ITERATIONS per parser in process and KDP_FUZZ_CLI_ITERATIONS through the binary, with a
# fresh seed unless KDP_FUZZ_SEED is given. A failure prints the seed and case to replay.
fuzz: deps
	$(SWIFT) build --build-tests
	KDP_FUZZ_ITERATIONS=$${KDP_FUZZ_ITERATIONS:-20000} KDP_FUZZ_CLI_ITERATIONS=$${KDP_FUZZ_CLI_ITERATIONS:-200} \
	KDP_FUZZ_SEED=$${KDP_FUZZ_SEED:-$$(date +%s)} $(SWIFT) test --skip-build --disable-xctest --filter FuzzTests

# Benchmarks (release builds; not part of CI). Figures go to stdout.
bench: release
	KDP_BENCH=1 scripts/install-deps.sh
	scripts/bench-cluster.sh $(KDP_RELEASE)
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress --scale
	$(KDP_RELEASE) bench --services 20000 -o text
	$(KDP_RELEASE) bench --replay -o text
	$(KDP_RELEASE) bench --verify -o text

# Rewrites Tests/KdpTests/Golden/expected from this build: only for a deliberate behaviour change.
golden: build
	scripts/golden.sh $(KDP_DEBUG)

clean:
	rm -rf .build Benchmarks/.build
