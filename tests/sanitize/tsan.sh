#!/bin/bash
# ThreadSanitizer over the replication code, in a build tree of its own
# (BUILD_DIR/tsan, ccache shared with the main build):
#   1. tsan_selftest: a handover through absl::Mutex is clean and an
#      unguarded counter is reported, so the instrumented abseil
#      (build-absl-tsan.sh) is the one loaded and TSan is really on;
#   2. the unit tests of replication, storage and server, and the replica
#      simulator on a few seeds (its nodes' stores run their own threads);
#   3. cluster_test (the main build's client) against a 3-node cluster of
#      TSan-built kvgo-server processes: elections, forwarding, read
#      indexes, a leader killed under load, snapshot catch-up, isolation --
#      the production Replicator's threads and gRPC's.
# Fails on any test failure or any report.
# Usage: tsan.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
out="$build/tsan"
absl="$build/deps/absl-tsan"
bash "$src/tests/sanitize/build-absl-tsan.sh" "$absl"
unit_tests=(replication_test storage_test server_test replica_sim_test)
# DT_RPATH (not RUNPATH) so that gRPC's own libraries also resolve abseil
# from there.
cmake -S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" \
  -DCMAKE_C_FLAGS_SANITIZE="-O1 -g1" -DKVGO_TSAN=ON \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags,-rpath,$absl/lib" \
  -DKVGO_DEPS_PREFIX="$build/deps/prefix" -DKVGO_BIN_DIR="$out/bin" >/dev/null
cmake --build "$out" -j "$(nproc)" --target tsan_selftest kvgo-server "${unit_tests[@]}" >"$out/build.log" 2>&1 || {
  tail -50 "$out/build.log"; exit 1; }
find_bin() { find "$out" -name "$1" -type f -perm -u+x | head -1; }

server="$out/bin/kvgo-server"
loaded=$(ldd "$server" | awk '/libabsl_synchronization/ {print $3}')
if [[ "$loaded" != "$absl/lib/"* ]]; then
  echo "kvgo-server (TSan) loads libabsl_synchronization from '$loaded', not $absl/lib"
  exit 1
fi
ldd "$server" | grep -q libtsan || { echo "$server is not linked with TSan's runtime"; exit 1; }
[[ -x "$build/tests/cluster_test" ]] || { echo "build the main tree first ($build/tests/cluster_test)"; exit 1; }

export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$src/tests/sanitize/tsan.supp"
selftest=$(find_bin tsan_selftest)
if ! "$selftest" guarded >"$out/selftest-guarded.log" 2>&1; then
  echo "tsan_selftest guarded: a report through absl::Mutex (is abseil instrumented?)"
  head -40 "$out/selftest-guarded.log"
  exit 1
fi
code=0
"$selftest" unguarded >"$out/selftest-unguarded.log" 2>&1 || code=$?
if [[ $code != 66 ]] || ! grep -q "WARNING: ThreadSanitizer: data race" "$out/selftest-unguarded.log"; then
  echo "tsan_selftest unguarded: exit $code and no race reported (is TSan on?)"
  exit 1
fi
echo "tsan_selftest: absl::Mutex is seen, an unguarded race is reported"

# The replica simulator: 20 seeds per cluster size here (500 in the plain
# build, 100 under ASan); TSan's interest is the threads, not the seeds.
export KVGO_REPLICA_SIM_SEEDS=20
status=0
for t in "${unit_tests[@]}"; do
  bin=$(find_bin "$t")
  log="$out/$t.log"
  start=$(date +%s)
  if "$bin" >"$log" 2>&1; then
    echo "$t: passed in $(( $(date +%s) - start )) s under TSan"
  else
    echo "$t: FAILED under TSan (see $log)"
    grep -E -A20 "WARNING: ThreadSanitizer" "$log" | head -40 || true
    grep -E "FAILED|Failure" "$log" | head -20 || true
    status=1
  fi
done

# The servers write their reports to files: a server killed by the test
# cannot report through its exit code.
reports="$out/server-reports"
rm -rf "$reports" && mkdir -p "$reports"
log="$out/cluster_test.log"
start=$(date +%s)
if KVGO_SERVER_BIN="$server" TSAN_OPTIONS="$TSAN_OPTIONS:halt_on_error=0:log_path=$reports/tsan" \
  "$build/tests/cluster_test" >"$log" 2>&1; then
  echo "cluster_test: passed in $(( $(date +%s) - start )) s with TSan servers"
else
  echo "cluster_test: FAILED with TSan servers (see $log)"
  grep -E "FAILED|Failure" "$log" | head -20 || true
  status=1
fi
if compgen -G "$reports/tsan.*" >/dev/null; then
  echo "ThreadSanitizer reports from kvgo-server ($reports):"
  grep -h -A30 "WARNING: ThreadSanitizer" "$reports"/tsan.* | head -80
  status=1
fi
exit $status
