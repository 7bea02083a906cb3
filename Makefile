# kvgo-server: the entry points. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they install what is missing first.
#
#   make            build bin/kvgo-server and bin/kvgo-bench (static)
#   make run        build, then start a single-node server on etc/kvgo-server.conf
#   make test       build and run every test (unit, integration, process)
#   make deps       install Debian packages, build static prometheus-cpp/civetweb
#   make clean      remove build/ and bin/

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

DEPS_STAMP := $(BUILD_DIR)/deps/prefix/.kvgo-static-deps-v1
PACKAGES_STAMP := $(BUILD_DIR)/.packages-ok

.PHONY: all build deps run test clean

all: build

$(PACKAGES_STAMP): packaging/scripts/install-build-deps.sh
	@mkdir -p $(BUILD_DIR)
	packaging/scripts/install-build-deps.sh
	@touch $@

$(DEPS_STAMP): $(PACKAGES_STAMP) packaging/scripts/build-static-deps.sh
	packaging/scripts/build-static-deps.sh $(BUILD_DIR)/deps

deps: $(PACKAGES_STAMP) $(DEPS_STAMP)

$(BUILD_DIR)/CMakeCache.txt: $(DEPS_STAMP) CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvgo-server kvgo-bench

run: build
	@mkdir -p var
	exec bin/kvgo-server --config etc/kvgo-server.conf

test: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure $(CTEST_ARGS)

clean:
	rm -rf $(BUILD_DIR) bin
