// The nemesis: a real N-node cluster (127.0.0.1 ... 127.0.0.N), several
// concurrent clients doing gets, range scans, puts, deletes, CAS
// (prev_version or prev_data_check), creates and batches over a small key space so that
// operations collide, and a fault schedule (kill -9 and restart of any
// node including the leader, or a power loss: the node dies at its next
// fsync or apply and loses every byte it had not synced (the powerloss
// failpoint action), SIGSTOP/SIGCONT pauses, a slow disk (the
// disk.fsync failpoint of kvgo-server-failpoints, which every node runs),
// a wall-clock jump of up to +-300 s (clock.wall_offset_ms),
// and network partitions: a minority cut off both ways or one way,
// network.h), all drawn from one seed. Every operation's invocation, completion and result is
// recorded (a write that fails or times out is "unknown": it may have taken
// effect). After healing, the history plus a final read of every key through
// every node is checked for per-key linearizability (tests/sim's checker), and
// every node's table is compared.
//
// A run's timing depends on the machine, so a seed reproduces its schedule
// of operations and faults, not the exact interleaving.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvgo::nemesis {

struct Options {
  int nodes = 3;
  int ops = 1000;  // client operations per run
  int clients = 4;
  // The operations are spread over about this many seconds (0 = ops / 100,
  // at least 5), so that faults hit them.
  int seconds = 0;
  uint64_t seed = 1;
  // Where a failing run's history and fault schedule go ("" = a temporary
  // directory that is kept only on failure).
  std::string keep_dir;
  bool verbose = false;
  // Network partitions among the faults: needs IsolateNetwork() (root) and
  // nftables; the nodes then run under uids of their own (NodeUid).
  bool partitions = false;
};

struct RunResult {
  uint64_t seed = 0;
  int ops = 0;        // client operations done
  int history = 0;    // per-key operations recorded (a scan reads many keys)
  int ok_writes = 0;  // acknowledged writes
  int unknown = 0;    // writes with an unknown outcome
  int rejected = 0;   // writes the server said it did not apply ("...; retry")
  int faults = 0;     // faults injected
  int kills = 0;
  int power_losses = 0;  // kills that also dropped what was not synced
  int pauses = 0;
  int partitions = 0;
  int slow_disks = 0;
  int clock_jumps = 0;
  bool linearizable = true;
  std::string bad_key;  // the first key whose history is not linearizable
  int lost = 0;         // keys whose final state contradicts the history, or nodes that differ
  std::string error;    // harness failure (cluster did not start, ...)
  std::string kept;     // where the history was written (on failure)
};

// One run: starts a cluster, runs the workload and the faults, heals,
// checks. Stops every process it started.
RunResult Run(const Options& options);

}  // namespace kvgo::nemesis
