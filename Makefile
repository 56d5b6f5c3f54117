# kdp — quick start: `make demo`, `make test`. See README.md.
SWIFT ?= swift
KDP_DEBUG := .build/debug/kdp
KDP_RELEASE := .build/release/kdp

.PHONY: all deps build release demo test bench golden clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job on the embedded default topology: a pod reaches a Service, hop by hop, and back.
demo: build
	$(KDP_DEBUG) trace --from pod/default/client --to service/default/web:80

# Every test: unit, CLI and (under CI=true, as root) the kernel checks in network namespaces.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-xctest

# Benchmarks (release builds; not part of CI). Figures go to stdout.
bench: release
	KDP_BENCH=1 scripts/install-deps.sh
	scripts/bench-cluster.sh $(KDP_RELEASE)
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress --scale
	$(KDP_RELEASE) bench --services 20000 -o text

# Rewrites Tests/KdpTests/Golden/expected from this build: only for a deliberate behaviour change.
golden: build
	scripts/golden.sh $(KDP_DEBUG)

clean:
	rm -rf .build Benchmarks/.build
