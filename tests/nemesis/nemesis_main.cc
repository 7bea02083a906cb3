// kvgo-nemesis: `make nemesis RUNS=N OPS=M [NODES=3|5] [SEED=S]`. Runs the
// nemesis (nemesis.h) RUNS times with seeds SEED, SEED+1, ... and ends with
//   nemesis: N runs, M ops, V violations, L lost
// exiting non-zero if V or L > 0 (or a run could not be carried out).
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "nemesis.h"
#include "network.h"

ABSL_FLAG(int, runs, 3, "runs");
ABSL_FLAG(int, ops, 1000, "client operations per run");
ABSL_FLAG(int, nodes, 3, "cluster size (3 or 5; 127.0.0.1 ... 127.0.0.N)");
ABSL_FLAG(int, clients, 4, "concurrent clients");
ABSL_FLAG(int, seconds, 0,
          "spread each run's operations over this many seconds (0 = ops/100, "
          "at least 5)");
ABSL_FLAG(uint64_t, seed, 1, "seed of the first run");
ABSL_FLAG(bool, partitions, true,
          "also inject network partitions (needs root and nftables: the run "
          "moves into a network namespace of "
          "its own)");
ABSL_FLAG(bool, keep, false, "keep every run's history and node logs, not only failing ones");
ABSL_FLAG(std::string, keep_dir, "", "where failing runs' histories go (default: /tmp/kvgo-nemesis-SEED)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const bool partitions = absl::GetFlag(FLAGS_partitions);
  std::string error;
  if (partitions && !kvgo::nemesis::IsolateNetwork(&error)) {
    std::fprintf(stderr,
                 "kvgo-nemesis: %s; run as root, or without partitions: "
                 "--partitions=false\n",
                 error.c_str());
    return 2;
  }
  const int runs = absl::GetFlag(FLAGS_runs);
  long total_ops = 0;
  int violations = 0, lost = 0, errors = 0;
  for (int r = 0; r < runs; r++) {
    kvgo::nemesis::Options o;
    o.nodes = absl::GetFlag(FLAGS_nodes);
    o.ops = absl::GetFlag(FLAGS_ops);
    o.clients = absl::GetFlag(FLAGS_clients);
    o.seconds = absl::GetFlag(FLAGS_seconds);
    o.seed = absl::GetFlag(FLAGS_seed) + static_cast<uint64_t>(r);
    o.keep_dir = absl::GetFlag(FLAGS_keep_dir);
    o.partitions = partitions;
    o.verbose = absl::GetFlag(FLAGS_keep);
    if (!o.keep_dir.empty()) o.keep_dir += "/seed-" + std::to_string(o.seed);
    auto res = kvgo::nemesis::Run(o);
    total_ops += res.ops;
    if (!res.linearizable) violations++;
    lost += res.lost;
    if (!res.error.empty()) errors++;
    std::printf(
        "run %d seed %llu: %d ops (%d per key; %d acknowledged writes, %d unknown, %d not "
        "applied), %d faults (%d kills, %d power losses, %d pauses, %d partitions, %d slow disks, %d clock jumps): "
        "%s%s%s\n",
        r + 1, static_cast<unsigned long long>(res.seed), res.ops, res.history, res.ok_writes, res.unknown,
        res.rejected, res.faults, res.kills, res.power_losses, res.pauses, res.partitions, res.slow_disks,
        res.clock_jumps,
        !res.linearizable ? ("NOT LINEARIZABLE (key " + res.bad_key + ")").c_str()
        : res.lost > 0    ? "LOST WRITES"
                          : "ok",
        res.error.empty() ? "" : (", " + res.error).c_str(),
        res.kept.empty() ? "" : (", history in " + res.kept).c_str());
    if (!res.kept.empty() && (!res.linearizable || res.lost > 0 || !res.error.empty())) {
      std::printf(
          "  replay its schedule: make nemesis RUNS=1 OPS=%d NODES=%d "
          "SEED=%llu%s\n",
          o.ops, o.nodes, static_cast<unsigned long long>(o.seed), partitions ? "" : " PARTITIONS=false");
    }
    std::fflush(stdout);
  }
  std::printf("nemesis: %d runs, %ld ops, %d violations, %d lost\n", runs, total_ops, violations, lost);
  return violations > 0 || lost > 0 || errors > 0 ? 1 : 0;
}
