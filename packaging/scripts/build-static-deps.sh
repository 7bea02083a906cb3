#!/usr/bin/env bash
# Builds static archives of prometheus-cpp and civetweb from Debian's source
# packages (Debian ships them as shared libraries only), and of leveldb with
# one patch of ours, into a cache folder.
#
# usage: build-static-deps.sh CACHE_DIR
# Result: CACHE_DIR/prefix/{include,lib/*.a,lib/cmake/...}. Idempotent: a
# finished cache (stamp file) is reused; delete CACHE_DIR to rebuild.
# civetweb's poll quantum is cut from 2 s to 100 ms: it bounds how long
# stopping the HTTP listener takes (and so every server shutdown).
# leveldb gets packaging/patches/leveldb-no-seek-compaction.patch: lookups no
# longer trigger compactions (docs/performance.md, "LevelDB's seek
# compaction"); everything else is Debian's leveldb 1.23 as packaged.
#
# The deb-src entry is derived from the machine's own apt sources (same
# mirror, same suites), so no host name is hard-coded here.
set -euo pipefail

cache=$(mkdir -p "$1" && cd "$1" && pwd)
patches=$(cd "$(dirname "$0")/../patches" && pwd)
prefix="$cache/prefix"
stamp="$prefix/.kvgo-static-deps-v3"
[ -f "$stamp" ] && exit 0
rm -rf "$prefix"  # an older cache

log() { echo "deps: $*" >&2; }

have_src() { apt-get source --print-uris prometheus-cpp >/dev/null 2>&1; }

if ! have_src; then
  log "adding deb-src entries mirrored from the existing apt sources"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/kvgo-deb-src.sources
  fi
  if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
      > /etc/apt/sources.list.d/kvgo-deb-src.list
  fi
  apt-get update -qq
fi

src="$cache/src"
rm -rf "$src" && mkdir -p "$src"
cd "$src"
log "fetching Debian source packages civetweb, prometheus-cpp and leveldb"
apt-get source -qq civetweb prometheus-cpp leveldb >/dev/null 2>&1 || apt-get source civetweb prometheus-cpp leveldb

jobs=$(nproc)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

civet_dir=$(find "$src" -maxdepth 1 -type d -name 'civetweb-*' | head -1)
log "building civetweb from $civet_dir"
cmake -S "$civet_dir" -B "$src/build-civetweb" -DCMAKE_BUILD_TYPE=Release \
  "${launcher[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCIVETWEB_BUILD_TESTING=OFF -DCIVETWEB_ENABLE_SSL=OFF \
  -DCIVETWEB_ENABLE_CXX=ON -DCIVETWEB_ENABLE_SERVER_EXECUTABLE=OFF \
  -DCIVETWEB_ENABLE_IPV6=ON -DCIVETWEB_ENABLE_WEBSOCKETS=OFF \
  -DCIVETWEB_DISABLE_CGI=ON -DCIVETWEB_ENABLE_LUA=OFF -DCIVETWEB_ENABLE_DUKTAPE=OFF \
  -DCIVETWEB_SERVE_NO_FILES=ON -DCIVETWEB_ENABLE_ASAN=OFF \
  -DCMAKE_C_FLAGS="-DSOCKET_TIMEOUT_QUANTUM=100" >/dev/null
cmake --build "$src/build-civetweb" -j "$jobs" >/dev/null
cmake --install "$src/build-civetweb" >/dev/null

prom_dir=$(find "$src" -maxdepth 1 -type d -name 'prometheus-cpp-*' | head -1)
log "building prometheus-cpp from $prom_dir"
cmake -S "$prom_dir" -B "$src/build-prometheus" -DCMAKE_BUILD_TYPE=Release \
  "${launcher[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DCMAKE_PREFIX_PATH="$prefix" -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DENABLE_PUSH=OFF -DENABLE_PULL=ON \
  -DENABLE_COMPRESSION=OFF -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF \
  -DTHIRDPARTY_CIVETWEB_WITH_SSL=OFF -DGENERATE_PKGCONFIG=OFF >/dev/null
cmake --build "$src/build-prometheus" -j "$jobs" >/dev/null
cmake --install "$src/build-prometheus" >/dev/null

leveldb_dir=$(find "$src" -maxdepth 1 -type d -name 'leveldb-*' | head -1)
[ -n "$leveldb_dir" ] || { log "apt-get source leveldb left no leveldb-* directory"; exit 1; }
log "building leveldb from $leveldb_dir with $(basename "$patches")/leveldb-no-seek-compaction.patch"
# The patch is made for leveldb 1.23 (bookworm). On another version it must
# apply exactly or the build stops here: never an unpatched archive.
if ! patch -p1 --forward --fuzz=0 --quiet -d "$leveldb_dir" <"$patches/leveldb-no-seek-compaction.patch" ||
  ! grep -q "kvgo-server: seek-triggered compaction is off" "$leveldb_dir/db/version_set.cc"; then
  log "leveldb-no-seek-compaction.patch does not apply to $(basename "$leveldb_dir") (made for leveldb-1.23)"
  exit 1
fi
cmake -S "$leveldb_dir" -B "$src/build-leveldb" -DCMAKE_BUILD_TYPE=Release \
  "${launcher[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLEVELDB_BUILD_TESTS=OFF -DLEVELDB_BUILD_BENCHMARKS=OFF -DLEVELDB_INSTALL=ON >/dev/null
cmake --build "$src/build-leveldb" -j "$jobs" >/dev/null
cmake --install "$src/build-leveldb" >/dev/null

rm -rf "$src"
touch "$stamp"
log "static prometheus-cpp, civetweb and leveldb are in $prefix"
