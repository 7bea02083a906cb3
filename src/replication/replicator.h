// Replicator: cluster mode's CommandLog. It runs this member's Replica
// (replica.h: the replication logic, over the Multi-Paxos core) on a driver
// thread, over production ports: GrpcTransport to the other masters, the
// Paxos WAL (PaxosLogStore), GrpcSnapshotSender, the system clock.
//
// Threads: callers post inputs (writes, peer messages, leader reads) to
// the inbox; the driver thread takes them and runs Replica::Handle at least
// once a tick. A second thread runs read continuations off the driver.
// Reads on a leader with a lease, and a follower's read index, take lock-
// free fast paths. Snapshot installs run on the Peer service's threads,
// serialized with the driver by apply_mu_.
// Design and guarantees: docs/replication.md.
//
// Thread-safe: every public method may be called from any thread.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "config/config.h"
#include "replication/grpc_transport.h"
#include "replication/log_store.h"
#include "replication/read_barriers.h"
#include "replication/replica.h"
#include "replication/snapshot_sender.h"
#include "storage/command_log.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kvgo::replication {

// What the metrics and SysStatus show.
struct ReplicatorStatus {
  consensus::NodeId id = 0;
  consensus::Role role = consensus::Role::kFollower;
  consensus::NodeId leader = 0;
  std::string leader_addr;
  uint64_t ballot_round = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t compacted = 0;
  uint64_t wal_bytes = 0;  // the Paxos WAL's segments on disk
  uint64_t forwarded = 0;
  uint64_t forward_calls = 0;  // Forward/ForwardBatch calls that carried them
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  uint64_t leader_changes = 0;
  // Entries skipped because the entry they were computed after was not the
  // one applied before them (a leader change cut their chain).
  uint64_t entries_skipped = 0;
  // The apply rules a proposal of this node gets now (ApplyRules).
  uint32_t apply_rules = 0;
  struct PeerState {
    std::string addr;
    bool connected = false;
    uint64_t dropped = 0;
  };
  std::vector<PeerState> peers;
};

class Replicator final : public storage::CommandLog {
 public:
  using EffectsListener = Applier::EffectsListener;
  // Called on the driver thread after each synced WAL append with the
  // number of log entries it persisted and the seconds the write and fsync
  // took.
  using GroupObserver = std::function<void(size_t entries, double seconds)>;

  // Joins the cluster of config.masters as the member whose addr equals
  // config.bind. REQUIRES: store and sm outlive the Replicator, and
  // sm->LoadEffects() ran. `restored` is log->Load()'s result, read before
  // the state machine was opened.
  static StatusOr<std::unique_ptr<Replicator>> Start(const Config& config, storage::Store* store,
                                                     storage::StateMachine* sm, std::unique_ptr<PaxosLogStore> log,
                                                     consensus::Restored restored, EffectsListener listener,
                                                     GroupObserver observer = nullptr);
  ~Replicator() override;  // Stop()s

  // storage::CommandLog
  void Submit(storage::pb::Command cmd, Callback done) override;
  void ReadBarrier(Deadline deadline, std::function<void(Status)> done) override;
  bool RunsBackgroundWork() const override { return fast_leader_.load(); }

  // Fails everything pending, stops the threads. Idempotent.
  void Stop();

  // --- entry points of the Peer service ---
  const PeerIdentity& identity() const { return *identity_; }
  void Receive(consensus::Message m);
  // The newest apply rules peer `from` can apply (as its messages say).
  void NotePeerApplyRules(consensus::NodeId from, uint32_t rules);
  // Leader: proposes a forwarded write; `done` gets the outcome.
  void SubmitForwarded(storage::pb::Command cmd, std::function<void(peer::pb::ForwardReply)> done);
  // Checks a forwarded command before it is proposed: a result to answer
  // instead (an access denial), or nullopt. Set before the Peer service
  // serves.
  using ForwardCheck = std::function<std::optional<storage::pb::CommandResult>(const storage::pb::Command&)>;
  void SetForwardCheck(ForwardCheck check) { forward_check_ = std::move(check); }
  // Leader: a read index for a follower.
  void LeaderReadIndex(std::function<void(peer::pb::ReadIndexReply)> done);
  // Snapshot install (Replica::BeginInstall and after).
  StatusOr<uint64_t> BeginInstall(consensus::Slot slot, consensus::NodeId from, consensus::Ballot ballot);
  Status InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk);
  void AbortInstall(uint64_t generation);

  void SetSecrets(const Config& config);
  bool leader_known() const { return leader_.load() != 0; }
  ReplicatorStatus status() const;

 private:
  // Hands a bounced forwarded write back to the driver; Stop() clears `r`
  // so that callbacks still in flight afterwards never touch this object.
  struct Gate {
    absl::Mutex mu;
    Replicator* r ABSL_GUARDED_BY(mu) = nullptr;
  };

  Replicator() = default;
  void Post(Input in);
  void Run();
  // Copies the Replica's view to the fast paths and view_.
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  void RunCallbacks();
  void Defer(std::function<void()> fn);
  bool UnderLease() const;

  Config config_;
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  ForwardCheck forward_check_;
  std::unique_ptr<PaxosLogStore> log_;
  std::unique_ptr<PeerIdentity> identity_;
  std::unique_ptr<ApplyRules> rules_;
  std::unique_ptr<GrpcTransport> transport_;
  std::unique_ptr<GrpcSnapshotSender> snapshots_;
  std::unique_ptr<ReadBarriers> barriers_;

  // The driver holds apply_mu_ while it runs the Replica; a snapshot
  // install's calls take it too.
  absl::Mutex apply_mu_;
  std::unique_ptr<Replica> replica_ ABSL_GUARDED_BY(apply_mu_);

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<Input> inbox_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> deferred_ ABSL_GUARDED_BY(mu_);
  absl::CondVar deferred_cv_;
  bool callbacks_done_ ABSL_GUARDED_BY(mu_) = false;  // the callbacks thread may exit
  ReplicaView view_ ABSL_GUARDED_BY(mu_);

  // Published by the driver for lock-free fast paths.
  std::atomic<consensus::NodeId> leader_{0};
  std::atomic<bool> fast_leader_{false};      // leader and LeaderReady
  std::atomic<int64_t> lease_until_ns_{0};    // steady clock; 0 = no lease
  std::atomic<bool> round_in_flight_{false};  // leader: own proposals not chosen yet

  std::thread driver_;
  std::thread callbacks_;
};

}  // namespace kvgo::replication
