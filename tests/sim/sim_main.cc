// kvgo-sim: runs the Multi-Paxos simulator over many seeds, or replays one.
//   kvgo-sim --seeds=N [--nodes=3] [--first=1]
//   kvgo-sim --seed=S [--nodes=3]       (prints the trace of that seed)
//   --change=P: membership changes per tick (0.03), --no-changes: none;
//   --bug-...: a planted bug
// Ends with "sim: N seeds, V violations"; exit 1 if V > 0.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "cluster_sim.h"

int main(int argc, char** argv) {
  uint64_t seeds = 1000, first = 1, seed = 0;
  int nodes = 3;
  kvgo::sim::SimOptions o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = val("--seeds="))
      seeds = std::strtoull(v, nullptr, 10);
    else if (const char* v = val("--first="))
      first = std::strtoull(v, nullptr, 10);
    else if (const char* v = val("--seed="))
      seed = std::strtoull(v, nullptr, 10);
    else if (const char* v = val("--nodes="))
      nodes = std::atoi(v);
    else if (const char* v = val("--change="))
      o.change = std::atof(v);
    else if (a == "--no-changes")
      o.change = 0;
    else if (a == "--bug-count-unpersisted")
      o.bug_count_unpersisted = true;
    else if (a == "--bug-learners-count")
      o.bug_learners_count = true;
    else if (a == "--bug-unchecked-changes")
      o.bug_unchecked_changes = true;
    else {
      std::cerr << "usage: kvgo-sim [--seeds=N] [--first=S] [--seed=S] [--nodes=N] [--change=P|--no-changes]\n"
                   "                [--bug-count-unpersisted|--bug-learners-count|--bug-unchecked-changes]\n";
      return 2;
    }
  }
  o.nodes = nodes;
  if (seed != 0) {
    o.trace = true;
    auto r = kvgo::sim::RunSimulation(seed, o);
    std::cout << r.trace;
    for (const auto& v : r.violations) std::cout << "VIOLATION: " << v << "\n";
    std::cout << "sim: 1 seeds, " << (r.violations.empty() ? 0 : 1) << " violations\n";
    return r.violations.empty() ? 0 : 1;
  }
  uint64_t bad = 0, ops = 0, committed = 0, unknown = 0, changes = 0, transfers = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t s = first; s < first + seeds; s++) {
    auto r = kvgo::sim::RunSimulation(s, o);
    ops += r.operations;
    committed += r.committed;
    unknown += r.unknown;
    changes += r.changes;
    transfers += r.transfers;
    if (!r.violations.empty()) {
      bad++;
      std::cout << "VIOLATION: " << r.violations[0] << "\n  replay: make sim SEED=" << s << " NODES=" << nodes << "\n";
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu client operations, %llu acknowledged, %llu answered unknown, %.1f s (%.0f seeds/minute)\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(committed),
              static_cast<unsigned long long>(unknown), secs, seeds / secs * 60);
  std::printf("%llu membership changes chosen, %llu leadership transfers started\n",
              static_cast<unsigned long long>(changes), static_cast<unsigned long long>(transfers));
  std::printf("sim: %llu seeds, %llu violations\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(bad));
  return bad == 0 ? 0 : 1;
}
