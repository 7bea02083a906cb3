// ReplicaCluster's internals, shared by replica_cluster.cc (nodes,
// network, rounds) and replica_cluster_calls.cc (client calls, snapshots,
// digests). Test-only; single-threaded like the cluster.
#pragma once

#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "replication/log_store.h"
#include "replication/read_barriers.h"
#include "replication/replica_cluster.h"
#include "replication/snapshot_reader.h"
#include "storage/catalog.h"
#include "storage/query.h"

namespace kvgo::replication::testing {

// A call with no answer by then fails at its caller (gRPC's deadline).
inline constexpr int64_t kCallTimeoutMs = 2000;

// Thrown by a node's log write to crash the node in the middle of a Ready.
struct CrashSignal {};

// A node's clock: the cluster's, running at `rate` (1 = true time), its
// wall clock `offset_ms` off. Steady readings advance by the cluster's
// monotonic milliseconds times the rate, and go on across the node's
// restarts. In the round in which the node's log write has a slow fsync,
// its Replica reads the time the fsync ends (as it does once the write
// returns); other readers (client reads, checking the lease) read true
// time, as production's gRPC threads do meanwhile.
class DriftClock final : public Clock {
 public:
  DriftClock(ManualClock* base, double rate, int64_t offset_ms) : base_(base), rate_(rate), offset_ms_(offset_ms) {}
  int64_t NowMs() override { return base_->NowMs() + offset_ms_ + (MonotonicMs() - base_->MonotonicMs()); }
  int64_t MonotonicMs() override {
    return from_ms_ + static_cast<int64_t>(static_cast<double>(Base() - from_base_ms_) * rate_);
  }
  std::chrono::steady_clock::time_point SteadyNow() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(MonotonicMs()));
  }
  // The cluster's monotonic milliseconds when this clock reaches `t`.
  int64_t BaseMs(std::chrono::steady_clock::time_point t) const {
    const double ms = std::chrono::duration<double, std::milli>(t.time_since_epoch()).count();
    return from_base_ms_ + static_cast<int64_t>(std::ceil((ms - static_cast<double>(from_ms_)) / rate_));
  }
  // From now on the clock runs at `rate` (no jump).
  void SetRate(double rate) {
    from_ms_ = MonotonicMs();
    from_base_ms_ = Base();
    rate_ = rate;
  }
  // Within the node's round, until the cluster's `base_ms`, reads as if it
  // were then. ClearStall: the node crashed.
  void StallUntil(int64_t base_ms) { stall_until_ = std::max(stall_until_, base_ms); }
  void ClearStall() { stall_until_ = 0; }
  void SetInRound(bool in_round) { in_round_ = in_round; }

 private:
  int64_t Base() const { return in_round_ ? std::max(base_->MonotonicMs(), stall_until_) : base_->MonotonicMs(); }

  ManualClock* const base_;
  double rate_;
  const int64_t offset_ms_;
  int64_t from_ms_ = 0, from_base_ms_ = 0;  // this clock's reading at the base's, when the rate was set
  int64_t stall_until_ = 0;
  bool in_round_ = false;
};

// Streams snapshots to peers over the simulated network, with the
// production SnapshotReader and the receiver's Replica install calls, as
// an InstallSnapshot stream does: the first chunk begins the install, the
// next chunk goes once the receiver took the last one, and a stream that
// stalls for a call timeout (a chunk or its acknowledgement lost, either
// side crashed) breaks: the receiver aborts its install and the sender
// forgets the stream.
class ReplicaCluster::Snapshots final : public SnapshotSender {
 public:
  Snapshots(ReplicaCluster* c, size_t self) : c_(c), self_(self) {}
  ~Snapshots() override;
  void Start(consensus::NodeId peer, consensus::Slot slot, consensus::Ballot ballot) override;
  std::optional<consensus::Slot> InFlight(consensus::NodeId peer) const override;

 private:
  struct Stream;
  void SendNext(consensus::NodeId peer, std::shared_ptr<Stream> st);
  // Breaks the stream unless it made progress in the next call timeout.
  void Watch(consensus::NodeId peer, std::shared_ptr<Stream> st, uint64_t steps);

  ReplicaCluster* const c_;
  const size_t self_;
  std::map<consensus::NodeId, std::shared_ptr<Stream>> streams_;
};

// The node's PaxosLogStore, whose Persist may crash the node first, or
// take simulated time (a slow fsync: the node is busy until it ends).
class ReplicaCluster::Log final : public AcceptorLog {
 public:
  Log(ReplicaCluster* c, Node* node, PaxosLogStore* wal) : c_(c), node_(node), wal_(wal) {}
  StatusOr<consensus::Restored> Load() override { return wal_->Load(); }
  Status Persist(const std::optional<consensus::HardState>& hs, const std::vector<consensus::Entry>& e) override;
  Status Compact(consensus::Slot upto) override { return wal_->Compact(upto); }
  Status DropThrough(consensus::Slot upto) override { return wal_->DropThrough(upto); }
  Status WipeData() override { return wal_->WipeData(); }
  uint64_t bytes() const override { return wal_->bytes(); }

 private:
  ReplicaCluster* const c_;
  Node* const node_;
  PaxosLogStore* const wal_;
};

struct ReplicaCluster::Node {
  size_t index = 0;
  consensus::NodeId id = 0;
  std::string addr;
  std::vector<consensus::NodeId> peers;
  std::unique_ptr<DriftClock> clock;  // for the node's whole life
  bool up = false;
  uint64_t incarnation = 0;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<PaxosLogStore> wal;
  std::unique_ptr<Log> log;
  std::unique_ptr<storage::StateMachine> sm;
  std::unique_ptr<storage::Catalog> catalog;
  std::unique_ptr<storage::QueryEngine> query;
  std::unique_ptr<ApplyRules> rules;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<Snapshots> snapshots;
  std::unique_ptr<ReadBarriers> barriers;
  std::unique_ptr<Replica> replica;
  std::vector<Input> inbox;
  std::deque<std::function<void()>> deferred;
  // The failures of the calls in flight here (clients' and peers'), run if
  // the node crashes first.
  std::map<uint64_t, std::function<void()>> pending;
  uint64_t next_call = 0;
  bool bounce_next = false;
  bool lose_next_reply = false;
  consensus::Slot published_applied = 0;
  // In a slow fsync until then (the cluster's milliseconds): the node's
  // Replica takes no input, and what it sent after the write leaves then
  // (or never, if the node crashes first).
  int64_t busy_until = 0;
  int64_t next_fsync_ms = 0;  // SlowNextFsync
};

}  // namespace kvgo::replication::testing
