#!/usr/bin/env bash
# CPU instructions per operation, counted by valgrind's callgrind: unlike
# ops/s and CPU seconds, the count does not drift with this machine's speed,
# so two builds can be compared in one run each.
#
#   tests/perf/instructions.sh [NODES] [CASE] [SECONDS]    (defaults: 1 seq-write 10)
#
# Starts NODES (1 or 3) servers under callgrind on 127.0.0.1-3:9330 (a
# cluster with a 1 s heartbeat and a 6 s election timeout, as everything runs
# some 50 times slower), warms them with 3 s of seq-write, zeroes the
# counters, runs kvgo-bench CASE with 20 clients (through the leader) for
# SECONDS, and prints, per node, the user-space instructions per operation:
# in all and for the committer (single node) or Paxos driver (cluster), the
# gRPC threads and LevelDB's compaction thread. Kernel work (system calls,
# fsync, the network) is not counted. The callgrind files stay in the work
# directory it prints, for callgrind_annotate. Every server started is
# stopped by its pid on exit. Takes about a minute plus SECONDS.
set -euo pipefail

NODES=${1:-1}
CASE=${2:-seq-write}
SECS=${3:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVER=${KVGO_SERVER_BIN:-$ROOT/bin/kvgo-server}
BENCH=${KVGO_BENCH_BIN:-$ROOT/bin/kvgo-bench}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
[[ $NODES == 1 || $NODES == 3 ]] || { echo "NODES is 1 or 3" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvgo-instructions.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

secret() { echo "instructions-secret-of-node-$1"; }
for i in $(seq 1 "$NODES"); do
  {
    echo "[storage]"
    echo "data_directory = \"$WORK/data$i\""
    echo "[server]"
    echo "bind = \"127.0.0.$i:9330\""
    echo "http_port = 0"
    echo "auth_secret_key = \"$(secret "$i")\""
    if ((NODES > 1)); then
      echo "[cluster]"
      echo "heartbeat_ms = 1000"
      echo "election_timeout_ms = 6000"
      for j in $(seq 1 "$NODES"); do
        echo "[[cluster.masters]]"
        echo "addr = \"127.0.0.$j:9330\""
        echo "auth_secret_key = \"$(secret "$j")\""
      done
    fi
  } >"$WORK/n$i.conf"
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$i" \
    "$SERVER" --config "$WORK/n$i.conf" >"$WORK/n$i.log" 2>&1 &
  PIDS+=($!)
done

# The node to bench: the single node, or the cluster's leader.
target=""
for _ in $(seq 600); do
  if ((NODES == 1)); then
    grep -q "serving on" "$WORK/n1.log" && { target=127.0.0.1:9330; break; }
  else
    l=$({ grep -ho "leader is now [0-9.:]*" "$WORK"/n*.log 2>/dev/null || true; } | tail -1 | awk '{print $4}')
    [[ -n "$l" ]] && { target=$l; break; }
  fi
  sleep 0.1
done
[[ -n "$target" ]] || { echo "no server ready (or no leader elected) within 60 s; logs in $WORK" >&2; exit 1; }
idx=${target#127.0.0.}
idx=${idx%%:*}
run() { "$BENCH" --addr "$target" --secret "$(secret "$idx")" --clients 20 --json "" "$@"; }

# Under valgrind the first connections can time out: retry the warm-up.
for try in $(seq 10); do
  run --cases seq-write --seconds 3 >/dev/null 2>&1 && break
  ((try < 10)) || { echo "the servers did not answer; logs in $WORK" >&2; exit 1; }
done
for p in "${PIDS[@]}"; do callgrind_control -z "$p" >/dev/null 2>&1; done
out=$(run --cases "$CASE" --seconds "$SECS")
for p in "${PIDS[@]}"; do callgrind_control -d "$p" >/dev/null 2>&1; done
ops=$(awk -v c="$CASE" '$1 == c {print $3}' <<<"$out")
[[ "$ops" =~ ^[1-9][0-9]*$ ]] || { echo "kvgo-bench reported no operations for $CASE: $out" >&2; exit 1; }
echo "$CASE: $ops operations in $SECS s under callgrind, through $target (files in $WORK)"

# Inclusive instructions of the first function matching a pattern.
incl() { { grep -m1 -E "$2" "$1" || echo 0; } | awk '{gsub(",", "", $1); print $1}'; }
per_op() { awk -v n="${1:-0}" -v ops="$ops" 'BEGIN {printf "%7.1fk", n / ops / 1000}'; }
for i in $(seq 1 "$NODES"); do
  f=$(ls "$WORK"/callgrind."$i".* | tail -1)
  callgrind_annotate --inclusive=yes "$f" >"$WORK/annotate.$i" 2>/dev/null
  total=$(incl "$WORK/annotate.$i" "PROGRAM TOTALS")
  if ((NODES == 1)); then
    core=$(incl "$WORK/annotate.$i" "Committer::Run\(\)")
    name=committer
  else
    core=$(incl "$WORK/annotate.$i" "Replicator::Run\(\)")
    name=driver
  fi
  grpc=$(incl "$WORK/annotate.$i" "ThreadInternalsPosix::ThreadInternalsPosix")
  compaction=$(incl "$WORK/annotate.$i" "DBImpl::BackgroundCall")
  role=""
  [[ "127.0.0.$i:9330" == "$target" && $NODES -gt 1 ]] && role=" (leader)"
  echo "node $i$role: instructions per op: all $(per_op "$total")  $name $(per_op "$core")  gRPC threads $(per_op "$grpc")  LevelDB compaction $(per_op "$compaction")"
done
