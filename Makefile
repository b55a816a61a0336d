# Thin wrapper over CMake: `make demo`, `make test`, `make bench`, `make faults`.
# build/ is the normal build (gcc, -Werror); build-asan/ is the same code under
# ASan+UBSan built with clang, which also builds the libFuzzer targets.

JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps deps-test build build-asan agents package test test-package vm-image e2e faults demo demo-stop bench clean

all: build

# deps: what building and running the demo needs; deps-test: that and what
# only the tests, the cross agents and the packages need (cloud-init, clang,
# qemu-user-static, lintian, cross compilers, debootstrap).
deps:
	@bash packaging/deps.sh demo

deps-test:
	@bash packaging/deps.sh test

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOC_ASAN_DIR=$(CURDIR)/build-asan >/dev/null
	@cmake --build build -j $(JOBS) -- --no-print-directory

build-asan: deps-test
	@CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOC_SANITIZE=ON -DOC_FUZZ=ON >/dev/null
	@cmake --build build-asan -j $(JOBS) -- --no-print-directory

# Static agents for x86_64, aarch64 and armv7 in build/agents/ (stripped); the
# two ARM ones are cross-built against a sysroot of Debian arm64/armhf packages.
agents: deps-test build
	@bash packaging/agents.sh

# .debs in build/packages/ (overcloud-tower, overcloud-agent), lintian-clean.
package: agents
	@bash packaging/package.sh

test: deps-test build build-asan package
	@cd build && ctest --output-on-failure -j $(JOBS) -LE e2e $(CTEST_ARGS)

# The tower package installed, used, upgraded and purged in a Debian 12 root
# (debootstrap, kept in build/debootstrap/): minutes the first time, so not in
# `make test`.
test-package: package
	@bash tests/packaging/test_deb_install.sh

# A small Debian 12 amd64 VM image (qcow2, kernel, initrd) in build/vm-image/
# for the libvirt provider, from Debian packages only (debootstrap): minutes
# the first time; kept, and remade only when its inputs change.
vm-image:
	@bash packaging/vm-image.sh

# The end-to-end tests (tests/e2e/, ctest label e2e): real VMs of the image
# under qemu (TCG emulation, no KVM here: tens of minutes), so not in
# `make test`.
e2e: deps-test build agents vm-image
	@cd build && ctest --output-on-failure -L e2e $(CTEST_ARGS)

# The fault suite (tests/faults/: kill -9, partitions, disk full, clock skew,
# retries, the bridge) alone, each injection repeated FAULT_ROUNDS times;
# `make test` runs it once.
FAULT_ROUNDS ?= 3
faults: build
	@cd build && OC_FAULT_ROUNDS=$(FAULT_ROUNDS) ctest --output-on-failure -R '^faults/' $(CTEST_ARGS)

demo: build
	@bash scripts/demo.sh

demo-stop:
	@bash scripts/demo-stop.sh

bench: agents
	@bash bench/run.sh

clean:
	rm -rf build build-asan demo-state
