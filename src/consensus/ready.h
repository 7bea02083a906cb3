// The one order in which a Ready's work is done, shared by the production
// driver (Replica, src/replication/replica.cc) and the simulator (tests/sim), so
// that the order the simulator proves is the order production runs.
//
// The core makes every order safe (see Ready in paxos.h); this one is
// chosen for latency: messages leave first, so that the followers' writes
// overlap this node's; committed entries (already durable) are applied and
// answered before this node's own write; then the write, the snapshot
// requests, and Advance().
//
// Not thread-safe: called on the thread that drives the Node.
#pragma once

#include <optional>

#include "consensus/paxos.h"

namespace kvgo::consensus {

// A driver's side of one Ready. Each step returns false if the node
// stopped midway (the simulator's crash): ProcessReady then does nothing
// more, and the Ready is never advanced. Production steps return true, or
// end the process.
class ReadyHandler {
 public:
  virtual ~ReadyHandler() = default;
  virtual bool Send(Ready& rd) = 0;      // rd.messages
  virtual bool Apply(Ready& rd) = 0;     // rd.committed in order, then rd.reads and rd.unknown
  virtual bool Persist(Ready& rd) = 0;   // rd.hard_state and rd.entries, durably
  virtual bool Snapshot(Ready& rd) = 0;  // rd.snapshots
};

// Takes the node's Ready (REQUIRES: node.HasReady()), does it through
// `handler` and advances the node. Returns false if the handler stopped.
bool ProcessReady(Node& node, ReadyHandler& handler);

// ProcessReady in two halves, for a driver whose write completes later
// (the simulator's slow fsync): BeginReady takes the Ready and does Send and
// Apply (nullopt if the handler stopped); FinishReady does Persist and
// Snapshot and advances the node (false if the handler stopped). In between
// the node may be stepped, ticked, proposed to and read from, but not asked
// for another Ready.
std::optional<Ready> BeginReady(Node& node, ReadyHandler& handler);
bool FinishReady(Node& node, ReadyHandler& handler, Ready& rd);

}  // namespace kvgo::consensus
