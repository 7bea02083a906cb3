// A deterministic simulation of a Multi-Paxos cluster: the real consensus
// core (src/consensus) on N nodes in one thread, over a simulated network
// and disk, with every choice drawn from one seed. Faults: message drop,
// duplication, delay and reordering; symmetric, one-way and partial
// partitions; crashes at any point (also between sending and persisting)
// and restarts from what was persisted; slow disks (a node's Ready waits);
// clock drift (nodes tick at different rates).
//
// Membership changes at the leader: learners added (fresh nodes), promoted
// and removed, voters removed (the leader too), leadership transferred.
//
// Clients write unique values (retrying timed-out writes with the same
// (client, seq): the state machine's session table applies each once) and
// read through the log or with Read(); the history goes to the
// linearizability checker. Invariants are checked after every step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "consensus/paxos.h"
#include "linearizability.h"

namespace kvgo::sim {

struct SimOptions {
  int nodes = 3;
  int ticks = 600;       // faulty period, then a healing period
  int heal_ticks = 300;  // after faults stop, progress must resume within this
  int clients = 4;
  int keys = 3;
  double drop = 0.05;
  double duplicate = 0.02;
  int max_delay = 3;             // ticks
  double crash = 0.004;          // per tick
  double restart = 0.05;         // per tick, for a crashed node
  double partition = 0.01;       // per tick: a new partition
  double crash_in_ready = 0.01;  // per Ready: crash before persist / before send
  double slow_disk = 0.05;       // per Ready: the node stalls a few ticks first
  // Per Ready: its write completes 1-3 ticks after the Ready is handed out
  // (messages sent, committed entries applied), while the node goes on
  // stepping messages and ticks, as an asynchronous fsync would let it.
  double async_persist = 0.2;
  // Per tick: the leader is asked for a membership change or a leadership
  // transfer. Learners come from `spares` fresh node ids (nodes+1, ...).
  double change = 0.03;
  int spares = 3;
  // A deliberately broken durability rule, to prove the simulator catches
  // it: the core counts a Ready's writes as durable when it hands them out
  // (its own votes, and Accepted/Promise sent before the write), which a
  // crash between sending and persisting breaks.
  bool bug_count_unpersisted = false;
  // Followers vote while they still hear from a leader (breaks leases).
  bool bug_vote_despite_live_leader = false;
  // The state machine applies a retried write twice (no session table).
  bool bug_no_dedupe = false;
  // Replicas apply precomputed entries without the chain check
  // (src/replication/apply_chain.h).
  bool bug_no_chain_check = false;
  // The leader counts learners' acks toward its quorum.
  bool bug_learners_count = false;
  // Membership changes unchecked: several voters at once, and a change
  // while another is not chosen yet.
  bool bug_unchecked_changes = false;
  bool trace = false;
};

struct SimResult {
  std::vector<std::string> violations;
  uint64_t committed = 0;    // client operations acknowledged
  uint64_t operations = 0;   // client operations invoked
  uint64_t unknown = 0;      // answered "unknown" (leader stepped down first)
  uint64_t precomputed = 0;  // precomputed entries applied (all nodes)
  uint64_t skipped = 0;      // entries skipped by the chain check (all nodes)
  uint64_t changes = 0;      // membership changes chosen
  uint64_t transfers = 0;    // leadership transfers started
  std::string trace;         // when SimOptions::trace
};

// Runs one seed. Deterministic: the same seed and options give the same
// result and trace.
SimResult RunSimulation(uint64_t seed, const SimOptions& options);

}  // namespace kvgo::sim
