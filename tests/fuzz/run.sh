#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz) with clang and runs each for
# SECONDS seconds (default 15) from its seed corpus; fails on any crash,
# leak or sanitizer report. `make fuzz SECONDS=N` runs them longer.
# Usage: run.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-15}
src=$(cd "$(dirname "$0")/../.." && pwd)
gen="$build/proto/gen"
out="$build/fuzz"
if ! command -v clang++ >/dev/null; then
  echo "SKIP: clang++ is not installed (make deps installs it)"; exit 77
fi
[ -f "$gen/peer.pb.cc" ] || { echo "run the main build first: $gen/peer.pb.cc is missing"; exit 1; }
CXX=clang++ cmake -S "$src/tests/fuzz" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKVGO_SOURCE_DIR="$src" -DKVGO_GEN_DIR="$gen" -DKVGO_DEPS_PREFIX="$build/deps/prefix" >/dev/null
cmake --build "$out" -j "$(nproc)" >/dev/null
status=0
for t in token config request peer wal peer_service sequence; do
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  cp -n "$src/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log="$out/$t.log"
  if "$out/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=8192 \
      -artifact_prefix="$out/$t-" "$corpus" >"$log" 2>&1; then
    echo "$t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1), corpus $(ls "$corpus" | wc -l) inputs"
  else
    echo "$t: FAILED (see $log; the input is saved as $out/$t-*)"
    tail -30 "$log"
    status=1
  fi
done
exit $status
