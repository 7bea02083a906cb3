// What the replication core (Replica) needs from the world, as interfaces:
// production implements them over gRPC and the Paxos WAL (GrpcTransport,
// SnapshotSender, PaxosLogStore), a test or the simulator over its own
// network and disk. The KV store is storage::Store (LevelDB behind a
// leveldb::Env, which a test swaps for an in-memory one) and time is a
// kvgo::Clock.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "storage.pb.h"

namespace kvgo::replication {

inline constexpr auto kReadIndexTimeout = std::chrono::seconds(3);

// Messages and calls to the other members.
// Thread-safe: the methods are called on the Replica's thread; the
// callbacks may run on any thread, after the call returned, and at most
// once each.
class PeerTransport {
 public:
  virtual ~PeerTransport() = default;
  // Sends `m` to member m.to, or drops it (Paxos tolerates loss).
  virtual void Send(consensus::Message m) = 0;
  // Whether there is a live link to `peer` now: a write forwarded over a
  // dead one would fail before reaching it, with an outcome unknown.
  virtual bool Reachable(consensus::NodeId peer) const = 0;
  // The member's address (for messages), or "" if not a member.
  virtual std::string Addr(consensus::NodeId peer) const = 0;
  // Forwards writes to the leader `leader` in one call. `done` gets OK and
  // one reply per command, in order; or a transport error, when each
  // write's outcome is unknown.
  using ForwardDone = std::function<void(Status, std::vector<peer::pb::ForwardReply>)>;
  virtual void Forward(consensus::NodeId leader, std::vector<storage::pb::Command> cmds, ForwardDone done) = 0;
  // Asks the leader `leader` for a read index. `done` gets it, or why not,
  // within kReadIndexTimeout.
  using ReadIndexDone = std::function<void(Status, consensus::Slot)>;
  virtual void ReadIndex(consensus::NodeId leader, ReadIndexDone done) = 0;
};

// Streams snapshots of this node's KV store to peers behind its log.
// Thread-safe.
class SnapshotSender {
 public:
  virtual ~SnapshotSender() = default;
  // Starts sending `peer` the store as of now, which is applied up to
  // `slot`, as the leader of `ballot`. Ignored while one to `peer` is in
  // flight.
  virtual void Start(consensus::NodeId peer, consensus::Slot slot, consensus::Ballot ballot) = 0;
  // The slot of the snapshot in flight to `peer`, if one is.
  virtual std::optional<consensus::Slot> InFlight(consensus::NodeId peer) const = 0;
};

// The durable state of this node's acceptor (PaxosLogStore in
// production). Not thread-safe: the Replica's thread only.
class AcceptorLog {
 public:
  virtual ~AcceptorLog() = default;
  // Rereads what the node had (wiping the KV data of an interrupted
  // snapshot install).
  virtual StatusOr<consensus::Restored> Load() = 0;
  // Makes the promise (if set) and the entries durable before returning.
  virtual Status Persist(const std::optional<consensus::HardState>& hard_state,
                         const std::vector<consensus::Entry>& entries) = 0;
  // Drops the entries up to `upto` (REQUIRES: applied), making every applied
  // write before it durable first.
  virtual Status Compact(consensus::Slot upto) = 0;
  // Drops the entries up to `upto`, once a snapshot install made that the
  // compacted slot in the KV store.
  virtual Status DropThrough(consensus::Slot upto) = 0;
  // Deletes the KV data and the log, keeping the promise.
  virtual Status WipeData() = 0;
  // Bytes on disk (metrics).
  virtual uint64_t bytes() const = 0;
};

}  // namespace kvgo::replication
