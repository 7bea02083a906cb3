// The replica simulator: N production Replicas (src/replication, through
// replication::testing::ReplicaCluster) in one thread, with clients that
// put, compare-and-set, create, delete and read a few keys through any
// node (so forwarding, parking and read indexes are exercised), under
// random faults: message loss, duplication and delay, lost forward replies,
// one-way and two-way link cuts, crashes between rounds and in the middle
// of a Ready, power cuts (a crash that also loses what the node had not
// synced), slow fsyncs, restarts; and membership changes at the leader (a
// voter demoted to learner, a learner promoted or removed, a removed node
// added back as a learner) and leadership transfers. Then the faults stop,
// every node restarts, the links heal, and every node is made a voter
// again, one change at a time.
//
// Each run checks the clients' history for per-key linearizability (an
// acknowledged write that was lost makes a later read non-linearizable),
// that writes are acknowledged again after healing, and that every
// replica's data digest is equal at the end. A run replays from its seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvgo::sim {

struct ReplicaSimOptions {
  int nodes = 3;
  int clients = 4;
  int keys = 3;
  int fault_ms = 8000;  // the faulty period, then healing
  int heal_ms = 6000;
  // Entries a node keeps behind its applied slot; a peer further behind
  // gets a snapshot. 0: per seed, half the runs keep 8 (so that crashed and
  // cut-off nodes catch up from snapshots) and half keep everything.
  int log_keep_entries = 0;
  // How far each node's clock rate may be off true time (ClusterOptions).
  // The lease margin (2 of 10 election ticks) covers a few percent.
  double max_clock_drift = 0.02;
  // The share of log writes during which their node crashes (the
  // messages of that Ready left, the write did not happen).
  double crash_in_persist = 0.01;
  // The share of crashes that are power cuts.
  double power_loss = 0.5;
  // The share of log writes whose fsync is slow: 10-300 ms, one in ten of
  // those 1-3 s (the node takes no input meanwhile).
  double slow_fsync = 0.02;
  // Partitions that last seconds, not under one: a cut-off leader is
  // replaced while clients still reach it.
  bool long_partitions = false;
  // Per 20 ms of the faulty period: the leader is asked for a membership
  // change or a leadership transfer.
  double membership_changes = 0.05;
  // Deliberately broken rules, to prove the simulator catches them.
  bool bug_retry_unknown = false;             // a forward whose outcome is unknown is retried
  bool bug_count_unpersisted = false;         // votes count before their write
  bool bug_keep_stale_keys = false;           // a snapshot install keeps keys the snapshot lacks
  bool bug_vote_despite_live_leader = false;  // a follower votes while its leader's lease holds
  bool bug_skip_log_sync = false;             // the Paxos WAL acknowledges writes it did not sync
  bool trace = false;                         // the history goes to ReplicaSimResult::trace
};

struct ReplicaSimResult {
  std::vector<std::string> violations;
  uint64_t operations = 0, acknowledged = 0, unknown = 0, crashes = 0;
  uint64_t snapshots = 0, installs_aborted = 0;  // snapshot streams finished, broken
  uint64_t power_cuts = 0, bytes_lost = 0;       // and the unsynced bytes they dropped
  uint64_t slow_fsyncs = 0;
  uint64_t changes = 0, transfers = 0;  // membership changes made, transfers started
  std::string trace;
};

ReplicaSimResult RunReplicaSimulation(uint64_t seed, const ReplicaSimOptions& options);

}  // namespace kvgo::sim
