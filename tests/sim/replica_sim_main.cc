// kvgo-replica-sim: runs the replica simulator (replica_sim.h) over many
// seeds, or replays one with its history.
//   kvgo-replica-sim --seeds=N [--nodes=3] [--first=1]
//   kvgo-replica-sim --seed=S [--nodes=3]
//   [--clock-drift=D]: each clock rate within 1 +- D of true time (default 0.02)
//   [--crash-in-persist=P] [--long-partitions]: harsher faults
//   [--no-changes]: no membership changes or leadership transfers
//   [--power-loss=P]: the share of crashes that are power cuts (default 0.5)
//   [--slow-fsync=P]: the share of log writes with a slow fsync (default 0.02)
//   [--bug-retry-unknown] [--bug-count-unpersisted] [--bug-keep-stale-keys]
//   [--bug-vote-despite-live-leader] [--bug-skip-log-sync]: planted bugs
// Ends with "replica sim: N seeds, V violations"; exit 1 if V > 0.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "replica_sim.h"

int main(int argc, char** argv) {
  uint64_t seeds = 100, first = 1, seed = 0;
  kvgo::sim::ReplicaSimOptions o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = val("--seeds=")) {
      seeds = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("--first=")) {
      first = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("--seed=")) {
      seed = std::strtoull(v, nullptr, 10);
    } else if (const char* v = val("--nodes=")) {
      o.nodes = std::atoi(v);
    } else if (a == "--no-changes") {
      o.membership_changes = 0;
    } else if (a == "--long-partitions") {
      o.long_partitions = true;
    } else if (const char* v = val("--crash-in-persist=")) {
      o.crash_in_persist = std::strtod(v, nullptr);
    } else if (const char* v = val("--slow-fsync=")) {
      o.slow_fsync = std::strtod(v, nullptr);
    } else if (const char* v = val("--power-loss=")) {
      o.power_loss = std::strtod(v, nullptr);
    } else if (const char* v = val("--clock-drift=")) {
      o.max_clock_drift = std::strtod(v, nullptr);
    } else if (a == "--bug-retry-unknown") {
      o.bug_retry_unknown = true;
    } else if (a == "--bug-count-unpersisted") {
      o.bug_count_unpersisted = true;
    } else if (a == "--bug-keep-stale-keys") {
      o.bug_keep_stale_keys = true;
    } else if (a == "--bug-vote-despite-live-leader") {
      o.bug_vote_despite_live_leader = true;
    } else if (a == "--bug-skip-log-sync") {
      o.bug_skip_log_sync = true;
    } else {
      std::cerr << "usage: kvgo-replica-sim [--seeds=N] [--first=S] [--seed=S] [--nodes=N] [--clock-drift=D] "
                   "[--crash-in-persist=P] [--long-partitions] [--no-changes] [--power-loss=P] [--slow-fsync=P] "
                   "[--bug-retry-unknown] [--bug-count-unpersisted] [--bug-keep-stale-keys] "
                   "[--bug-vote-despite-live-leader] [--bug-skip-log-sync]\n";
      return 2;
    }
  }
  if (seed != 0) {
    o.trace = true;
    auto r = kvgo::sim::RunReplicaSimulation(seed, o);
    std::cout << r.trace;
    for (const auto& v : r.violations) std::cout << "VIOLATION: " << v << "\n";
    std::cout << "replica sim: 1 seeds, " << (r.violations.empty() ? 0 : 1) << " violations\n";
    return r.violations.empty() ? 0 : 1;
  }
  uint64_t bad = 0, ops = 0, acked = 0, unknown = 0, crashes = 0, snapshots = 0, aborted = 0, cuts = 0, lost = 0,
           slow = 0, changes = 0, transfers = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t s = first; s < first + seeds; s++) {
    auto r = kvgo::sim::RunReplicaSimulation(s, o);
    ops += r.operations;
    acked += r.acknowledged;
    unknown += r.unknown;
    crashes += r.crashes;
    snapshots += r.snapshots;
    aborted += r.installs_aborted;
    cuts += r.power_cuts;
    lost += r.bytes_lost;
    slow += r.slow_fsyncs;
    changes += r.changes;
    transfers += r.transfers;
    if (!r.violations.empty()) {
      bad++;
      std::cout << "VIOLATION: " << r.violations[0] << "\n  replay: make sim SEED=" << s << " NODES=" << o.nodes
                << "\n";
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu client operations, %llu writes acknowledged, %llu unknown, %llu crashes, %.1f s\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(unknown), static_cast<unsigned long long>(crashes), secs);
  std::printf("%llu snapshots installed, %llu snapshot installs aborted\n", static_cast<unsigned long long>(snapshots),
              static_cast<unsigned long long>(aborted));
  std::printf("%llu power cuts dropped %llu unsynced bytes; %llu slow fsyncs\n", static_cast<unsigned long long>(cuts),
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(slow));
  std::printf("%llu membership changes made, %llu leadership transfers started\n",
              static_cast<unsigned long long>(changes), static_cast<unsigned long long>(transfers));
  std::printf("replica sim: %llu seeds, %llu violations\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(bad));
  return bad == 0 ? 0 : 1;
}
