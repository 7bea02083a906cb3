#!/usr/bin/env bash
# Throughput of a single node and of a 3-node cluster on this machine, with
# kvgo-bench (50 clients) -- the figures of issues 2 and 4.
#
#   tests/perf/bench-cluster.sh [REPS] [-- kvgo-bench flags...]
#
# Each repetition starts fresh servers from empty data directories under
# $TMPDIR (default /tmp), in this order: a single node on 127.0.0.1:9300;
# a 3-node cluster on 127.0.0.1-3:9300 benched through its leader; the same
# benched through a follower (which forwards writes and asks the leader for
# read indexes). Interleaving matters: this machine's speed drifts by tens of
# percent within minutes, so compare configurations within a repetition.
# Prints one line per configuration and case with every repetition's ops/s
# and the median. Every server started is stopped by its pid on exit.
set -euo pipefail

REPS=${1:-3}
shift || true
[[ "${1:-}" == "--" ]] && shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SERVER=${KVGO_SERVER_BIN:-$ROOT/bin/kvgo-server}
BENCH=${KVGO_BENCH_BIN:-$ROOT/bin/kvgo-bench}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvgo-bench-cluster.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

secret() { echo "bench-cluster-secret-of-node-$1"; }

write_conf() {  # node-index members...
  local i=$1 n=$2
  {
    echo "[storage]"
    echo "data_directory = \"$WORK/data$i\""
    echo "[server]"
    echo "bind = \"127.0.0.$i:9300\""
    echo "http_port = 0"
    echo "auth_secret_key = \"$(secret "$i")\""
    if ((n > 1)); then
      for j in $(seq 1 "$n"); do
        echo "[[cluster.masters]]"
        echo "addr = \"127.0.0.$j:9300\""
        echo "auth_secret_key = \"$(secret "$j")\""
      done
    fi
  } >"$WORK/n$i.conf"
}

start() {  # nodes
  local n=$1
  rm -rf "$WORK"/data* "$WORK"/*.log
  PIDS=()
  for i in $(seq 1 "$n"); do
    write_conf "$i" "$n"
    "$SERVER" --config "$WORK/n$i.conf" >"$WORK/n$i.log" 2>&1 &
    PIDS+=($!)
  done
}

stop() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}

# The address of the node that announced itself leader (waits up to 20 s).
leader() {
  for _ in $(seq 200); do
    local l
    l=$(grep -ho "leader is now [0-9.:]*" "$WORK"/n*.log 2>/dev/null | tail -1 | awk '{print $4}')
    if [[ -n "$l" ]]; then echo "$l"; return; fi
    sleep 0.1
  done
  echo "no leader elected; logs in $WORK" >&2
  exit 1
}

# kvgo-bench waits up to 5 s for the server to answer before it starts. It
# exits 1 if any request failed (and names the first on stderr): the run
# goes on, with a warning.
bench() {  # label addr secret
  "$BENCH" --addr "$2" --secret "$3" --clients 50 --json "" "${@:4}" "${EXTRA[@]}" |
    awk -v label="$1" '/^(seq|rand)-/ {print label, $1, $4}' ||
    echo "warning: $1: kvgo-bench reported failed requests; its figures count only the answered ones" >&2
}

EXTRA=("$@")
RESULTS="$WORK/results"
for r in $(seq 1 "$REPS"); do
  start 1
  bench single 127.0.0.1:9300 "$(secret 1)" --seconds 5 >>"$RESULTS"
  stop
  for via in leader follower; do
    start 3
    l=$(leader)
    addr=$l
    if [[ $via == follower ]]; then
      for i in 1 2 3; do [[ "127.0.0.$i:9300" != "$l" ]] && addr="127.0.0.$i:9300" && break; done
    fi
    # Every master accepts the other masters' secrets as root.
    bench "3-nodes-via-$via" "$addr" "$(secret 1)" --seconds 5 >>"$RESULTS"
    stop
  done
  echo "repetition $r of $REPS done" >&2
done
awk '{k = $1 " " $2; v[k] = v[k] " " $3} END {for (k in v) print k, v[k]}' "$RESULTS" | sort |
  while read -r conf case values; do
    median=$(tr ' ' '\n' <<<"$values" | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    printf "%-22s %-11s median %7s   runs:%s\n" "$conf" "$case" "$median" " $values"
  done
