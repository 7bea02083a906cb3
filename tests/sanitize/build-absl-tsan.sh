#!/usr/bin/env bash
# Builds Debian's own abseil (same version, same patches, so the same ABI and
# inline namespace) as shared libraries instrumented with ThreadSanitizer.
# gRPC and kvgo-server lock through absl::Mutex; Debian's build of it is not
# instrumented, so under TSan every lock and condition variable would be
# invisible and each guarded access a false report. A TSan binary linked with
# an rpath to OUT_DIR/lib loads these instead of /usr/lib's.
#
# usage: build-absl-tsan.sh OUT_DIR CXX_COMPILER
# CXX_COMPILER must be the one that builds the TSan tree (each compiler has
# its own TSan runtime). Result: OUT_DIR/lib/libabsl_*.so.*. Idempotent
# (stamp file); about 20 s of compiling on 2 cores, then cached.
set -euo pipefail

out=$(mkdir -p "$1" && cd "$1" && pwd)
cxx=$2
stamp="$out/.kvgo-absl-tsan-v2-$(basename "$cxx")"
[ -f "$stamp" ] && exit 0
rm -rf "$out/lib" "$out/src" "$out/build" "$out"/.kvgo-absl-tsan-*
mkdir -p "$out/src" "$out/lib"
cd "$out/src"
# build-static-deps.sh (make deps) has already added the deb-src entries.
apt-get source -qq abseil >/dev/null 2>&1 || apt-get source abseil
absl_dir=$(find "$out/src" -maxdepth 1 -type d -name 'abseil-*' | head -1)
[ -n "$absl_dir" ] || { echo "apt-get source abseil left no abseil-* directory" >&2; exit 1; }
# The installed headers must be the ones this source builds, or the two ABIs
# could differ silently.
if ! cmp -s "$absl_dir/absl/base/options.h" /usr/include/absl/base/options.h; then
  echo "abseil's source ($(basename "$absl_dir")) does not match the installed libabsl-dev" >&2
  exit 1
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$absl_dir" -B "$out/build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >"$out/build.log" 2>&1 || {
  tail -30 "$out/build.log"; exit 1; }
# synchronization brings what it links: base, spinlock_wait, graphcycles,
# stacktrace, symbolize, time, ... each as its own .so.
cmake --build "$out/build" -j "$(nproc)" --target synchronization >>"$out/build.log" 2>&1 || {
  tail -30 "$out/build.log"; exit 1; }
find "$out/build" -name 'libabsl_*.so.*' -exec cp -P {} "$out/lib/" \;
ls "$out/lib"/libabsl_synchronization.so.* >/dev/null
rm -rf "$out/src" "$out/build" "$out/build.log"
touch "$stamp"
