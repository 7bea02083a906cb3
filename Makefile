# kvgo-server: the entry points. `make run` and `make test` work on a fresh
# Debian 12 machine as root: they install what is missing first.
#
#   make            build bin/kvgo-server, bin/kvgo-cli and bin/kvgo-bench (static)
#   make run        build, then start a single-node server on etc/kvgo-server.conf
#   make test       build and run every test (unit, integration, process)
#   make sim        the simulators, SEEDS=N seeds each (NODES=3), or replay SEED=S:
#                   the consensus core alone (kvgo-sim), then src/replication's
#                   Replicas with clients (kvgo-replica-sim)
#   make fuzz       libFuzzer targets (token, config, request, peer message):
#                   SECONDS=N each (default 60)
#   make nemesis    real-process cluster under kills and pauses, checked for
#                   linearizability: RUNS=N OPS=M (NODES=3 or 5, SEED=S)
#   make deps       install Debian packages, build static prometheus-cpp/civetweb/leveldb
#   make install    install into $(DESTDIR)$(PREFIX) (default /opt/lynkdb/kvgo-server)
#   make uninstall  remove what make install put there, except the config and var/
#   make package    build/packages/: the DEB, the RPM and the tarball
#   make dist       build/packages/: the tarball only
#   make clean      remove build/ and bin/

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

DEPS_STAMP := $(BUILD_DIR)/deps/prefix/.kvgo-static-deps-v3
PACKAGES_STAMP := $(BUILD_DIR)/.packages-ok

PREFIX ?= /opt/lynkdb/kvgo-server
DESTDIR ?=
UNITDIR ?= /lib/systemd/system
VERSION := $(shell grep -m1 '^project' CMakeLists.txt | grep -o 'VERSION [0-9.]*' | cut -d' ' -f2)
PACKAGE_DIR ?= $(BUILD_DIR)/packages

SEEDS ?= 10000
NODES ?= 3
SEED ?=

.PHONY: all build deps run test clean install install-files uninstall package dist sim nemesis fuzz

all: build

$(PACKAGES_STAMP): packaging/scripts/install-build-deps.sh
	@mkdir -p $(BUILD_DIR)
	packaging/scripts/install-build-deps.sh
	@touch $@

$(DEPS_STAMP): $(PACKAGES_STAMP) packaging/scripts/build-static-deps.sh packaging/patches/leveldb-no-seek-compaction.patch
	packaging/scripts/build-static-deps.sh $(BUILD_DIR)/deps

deps: $(PACKAGES_STAMP) $(DEPS_STAMP)

$(BUILD_DIR)/CMakeCache.txt: $(DEPS_STAMP) CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvgo-server kvgo-cli kvgo-bench

run: build
	@mkdir -p var
	exec bin/kvgo-server --config etc/kvgo-server.conf

test: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure $(CTEST_ARGS)

SECONDS ?= 60
fuzz: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvgo_proto
	bash tests/fuzz/run.sh $(BUILD_DIR) $(SECONDS)

RUNS ?= 3
OPS ?= 1000
PARTITIONS ?= true
nemesis: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvgo-nemesis kvgo-server
	$(BUILD_DIR)/tests/nemesis/kvgo-nemesis --runs=$(RUNS) --ops=$(OPS) --nodes=$(NODES) \
	  --partitions=$(PARTITIONS) $(if $(SEED),--seed=$(SEED),)

sim: $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS) --target kvgo-sim kvgo-replica-sim
	$(BUILD_DIR)/tests/sim/kvgo-sim --nodes=$(NODES) $(if $(SEED),--seed=$(SEED),--seeds=$(SEEDS))
	$(BUILD_DIR)/tests/sim/kvgo-replica-sim --nodes=$(NODES) $(if $(SEED),--seed=$(SEED),--seeds=$(SEEDS))

# The files only (used for staging packages): binaries, config (never
# overwritten), README, the systemd unit with PREFIX substituted.
install-files:
	@test -x bin/kvgo-server || { echo "run make first"; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/etc $(DESTDIR)$(PREFIX)/var/data \
	  $(DESTDIR)$(PREFIX)/var/log $(DESTDIR)$(UNITDIR)
	install -m 0755 bin/kvgo-server bin/kvgo-cli bin/kvgo-bench $(DESTDIR)$(PREFIX)/bin/
	test -e $(DESTDIR)$(PREFIX)/etc/kvgo-server.conf || \
	  install -m 0640 etc/kvgo-server.conf $(DESTDIR)$(PREFIX)/etc/kvgo-server.conf
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/README.md
	sed 's|/opt/lynkdb/kvgo-server|$(PREFIX)|g' systemd/kvgo-server.service > \
	  $(DESTDIR)$(UNITDIR)/kvgo-server.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kvgo-server.service

# As root on the target (no DESTDIR): also the kvgo user, var/ ownership, a
# random secret in a fresh config, and systemctl daemon-reload.
install: build install-files
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	  packaging/scripts/postinstall.sh $(PREFIX); \
	  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	  echo "installed; start with: systemctl enable --now kvgo-server"; \
	fi

# Stops and disables the service (as root on the target), removes the
# programs, the README and the unit; keeps the config and var/ (the data).
uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl disable --now kvgo-server.service 2>/dev/null || true; \
	fi
	rm -f $(DESTDIR)$(PREFIX)/bin/kvgo-server $(DESTDIR)$(PREFIX)/bin/kvgo-cli \
	  $(DESTDIR)$(PREFIX)/bin/kvgo-bench $(DESTDIR)$(PREFIX)/README.md $(DESTDIR)$(UNITDIR)/kvgo-server.service
	-rmdir $(DESTDIR)$(PREFIX)/bin 2>/dev/null
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(PREFIX)/etc (the config) and $(DESTDIR)$(PREFIX)/var (the data): delete them yourself to remove everything"

package: build
	packaging/build-packages.sh $(VERSION) $(PACKAGE_DIR) all

dist: build
	packaging/build-packages.sh $(VERSION) $(PACKAGE_DIR) dist

clean:
	rm -rf $(BUILD_DIR) bin
