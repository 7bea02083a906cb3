// CommandLog: where state changes go. A node hands every Command (writes,
// TableSet, AccessKeySet, TTL purges) to its CommandLog, which makes it
// durable and applies it through the StateMachine before answering:
// - single node: the Committer (group commit into LevelDB);
// - cluster: the Replicator (Multi-Paxos, src/replication), which also
//   forwards to the leader and provides linearizable read barriers.
//
// Thread-safe: implementations accept calls from any thread.
#pragma once

#include <chrono>
#include <functional>

#include "common/status.h"
#include "storage.pb.h"

namespace kvgo::storage {

class CommandLog {
 public:
  using Callback = std::function<void(StatusOr<pb::CommandResult>)>;
  using Deadline = std::chrono::steady_clock::time_point;
  virtual ~CommandLog() = default;

  // Applies `cmd` durably and then calls `done` exactly once with its
  // result; or with an error if it was not applied (Unavailable) or may or
  // may not have been (DeadlineExceeded: "outcome unknown"). `done` may run
  // on any thread, also before Submit returns; keep it short.
  virtual void Submit(pb::Command cmd, Callback done) = 0;

  // Submit, blocking until the outcome is known.
  StatusOr<pb::CommandResult> Execute(pb::Command cmd);

  // Calls `done(OK)` once this node's state includes every write
  // acknowledged by any node before the call (a linearizable read may then
  // be served from it), or `done(error)` if that cannot be established by
  // `deadline`. `done` may run on any thread, also before this returns.
  virtual void ReadBarrier(Deadline deadline, std::function<void(Status)> done) = 0;

  // True if this node should run the cluster-wide background work (TTL
  // purges): the single node, or the cluster's leader.
  virtual bool RunsBackgroundWork() const = 0;
};

}  // namespace kvgo::storage
