// ReadBarriers: linearizable reads on this node once it has applied the
// cluster's latest writes. A read waits until this node applied a read
// index: the leader's own (Replica::Read), or, on a follower, one asked of
// the leader over the transport (one call in flight; the reads that arrive
// meanwhile share the next one).
//
// Thread-safe. The callbacks run through Hooks::defer (the Replicator's
// callbacks thread), the transport's threads or the calling thread, never
// under a lock.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <functional>
#include <map>
#include <vector>

#include "common/clock.h"
#include "replication/ports.h"
#include "replication/proposal.h"
#include "storage/command_log.h"

namespace kvgo::replication {

class ReadBarriers {
 public:
  using Deadline = storage::CommandLog::Deadline;
  using Done = std::function<void(Status)>;
  // What the barriers need of this node; each is thread-safe.
  struct Hooks {
    std::function<consensus::NodeId()> leader;  // the leader known now (0: none)
    std::function<bool()> leader_ready;         // this node leads and serves
    std::function<bool()> under_lease;          // ... with a lease valid now
    std::function<void(LeaderRead)> post;       // to this node's Replica
    std::function<void(std::function<void()>)> defer;
  };

  // REQUIRES: transport outlives this object.
  ReadBarriers(PeerTransport* transport, Hooks hooks) : transport_(transport), hooks_(std::move(hooks)) {}

  // `done` (OK) once a read on this node would see every write answered
  // before the call: at once under the leader's lease; else once this node
  // applied a read index (its own as leader, else the leader's).
  void Read(Deadline deadline, Done done);
  // Leader: a read index for a follower (under the lease, the applied
  // slot, which covers every answered write).
  void LeaderIndex(std::function<void(Status, consensus::Slot)> done);

  // `done` once this node applied `index` (OK), at `deadline`
  // (DeadlineExceeded) or at Stop (Unavailable).
  void WaitApplied(consensus::Slot index, Deadline deadline, Done done);

  // The Replica applied up to `applied`: wakes the reads it satisfies.
  void SetApplied(consensus::Slot applied);
  consensus::Slot applied() const { return applied_.load(); }
  // Times out the reads whose deadline passed.
  void Expire(Deadline now);
  // Fails every waiting read and waits (bounded by kReadIndexTimeout) for
  // the ReadIndex call in flight. Later calls fail at once.
  void Stop();

 private:
  void FollowerRead(Deadline deadline, Done done);
  void SendReadIndex();

  PeerTransport* const transport_;
  const Hooks hooks_;
  std::atomic<consensus::Slot> applied_{0};
  absl::Mutex mu_;
  absl::CondVar idle_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::multimap<consensus::Slot, std::pair<Deadline, Done>> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<Deadline, Done>> next_reads_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kvgo::replication
