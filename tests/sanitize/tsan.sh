#!/bin/bash
# ThreadSanitizer and clang's lock-annotation analysis, in a build tree of
# their own (BUILD_DIR/tsan), built with clang:
#   0. every file of src/ is compiled with -Wthread-safety -Werror: each
#      member marked ABSL_GUARDED_BY is touched only under its absl::Mutex,
#      each ABSL_EXCLUSIVE_LOCKS_REQUIRED function called with it held;
#   1. tsan_selftest: a handover through absl::Mutex is clean and an
#      unguarded counter is reported, so the instrumented abseil
#      (build-absl-tsan.sh) is the one loaded and TSan is really on;
#   2. every unit test and the replica simulator on a few seeds (the stores
#      run their own threads);
#   3. with KVGO_TSAN_CLUSTER=1 only: cluster_test (the main build's
#      client) against a 3-node cluster of TSan-built kvgo-server
#      processes: elections, forwarding, read indexes, a leader killed under
#      load, snapshot catch-up, isolation -- the production Replicator's
#      threads and gRPC's.
# Fails on any warning, test failure or report. Skipped (77) without clang
# (make deps installs it).
# Usage: tsan.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
out="$build/tsan"
absl="$build/deps/absl-tsan"
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "SKIP: clang is not installed (make deps installs it)"
  exit 77
fi
bash "$src/tests/sanitize/build-absl-tsan.sh" "$absl" clang++
unit_tests=(common_test consensus_test config_test settings_test auth_test storage_test metrics_test
            replication_test server_test cli_test replica_sim_test)
# DT_RPATH (not RUNPATH) so that gRPC's own libraries also resolve abseil
# from there.
cmake -S "$src" -B "$out" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g1" -DCMAKE_C_FLAGS_SANITIZE="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="-Wthread-safety -Wthread-safety-beta" -DKVGO_TSAN=ON \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags,-rpath,$absl/lib" \
  -DKVGO_DEPS_PREFIX="$build/deps/prefix" -DKVGO_BIN_DIR="$out/bin" >/dev/null
cmake --build "$out" -j "$(nproc)" --target tsan_selftest kvgo-server kvgo-cli kvgo-bench "${unit_tests[@]}" \
  >"$out/build.log" 2>&1 || {
  grep -E "error:|warning:" "$out/build.log" | head -30 || true
  tail -20 "$out/build.log"; exit 1; }
# Every file of src/ must have been compiled, with the analysis on.
python3 - "$out/compile_commands.json" "$src/src" <<'PY'
import json, os, shlex, subprocess, sys
entries = json.load(open(sys.argv[1]))
checked = set()
for e in entries:
    args = shlex.split(e["command"])
    obj = os.path.join(e["directory"], args[args.index("-o") + 1])
    if "-Wthread-safety" in args and os.path.exists(obj):
        checked.add(os.path.realpath(os.path.join(e["directory"], e["file"])))
files = subprocess.run(["git", "-C", sys.argv[2], "ls-files", "*.cc"], capture_output=True, text=True).stdout.split()
missing = [f for f in files if os.path.realpath(os.path.join(sys.argv[2], f)) not in checked]
if missing:
    sys.exit("not compiled with -Wthread-safety: " + " ".join(missing))
print(f"thread-safety analysis: {len(files)} files of src/ compiled with -Wthread-safety -Werror, no findings")
PY
find_bin() { find "$out" -name "$1" -type f -perm -u+x | head -1; }

server="$out/bin/kvgo-server"
loaded=$(ldd "$server" | awk '/libabsl_synchronization/ {print $3}')
if [[ "$loaded" != "$absl/lib/"* ]]; then
  echo "kvgo-server (TSan) loads libabsl_synchronization from '$loaded', not $absl/lib"
  exit 1
fi
nm "$server" | grep " T __tsan_init" >/dev/null || { echo "$server has no TSan runtime"; exit 1; }

export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:ignore_noninstrumented_modules=1:symbolize_inline_frames=0:suppressions=$src/tests/sanitize/tsan.supp"
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
source "$src/tests/sanitize/run_tests.sh"
run_tests "$out" "TSan" "WARNING: ThreadSanitizer|FAILED|Failure" "${unit_tests[@]}"

# The cluster step is opt-in (KVGO_TSAN_CLUSTER=1): TSan cannot see the
# ordering gRPC's uninstrumented core gives, and besides the reports the
# suppressions cover, a callback of ours that reads what it captured before
# the call started (ReadBarriers::SendReadIndex through a ReadIndex call)
# is reported now and then. docs/testing.md has what it finds and misses.
if [[ "${KVGO_TSAN_CLUSTER:-0}" == 1 ]]; then
  [[ -x "$build/tests/cluster_test" ]] || { echo "build the main tree first ($build/tests/cluster_test)"; exit 1; }
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
fi
exit $status
