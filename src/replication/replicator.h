// Replicator: cluster mode's CommandLog. It drives the I/O-free Multi-Paxos
// core (src/consensus) for this node: one driver thread runs the due ticks,
// feeds the core peer messages, proposals and reads, and does every Ready
// in consensus::ProcessReady's order (the simulator's too):
//   - sends the messages (the core holds back acks until what they assert
//     is durable, so the leader's Accepts leave before its own write),
//   - writes the state machine's mutations of the newly chosen entries, with
//     the applied slot, as one unsynced LevelDB WriteBatch, publishes their
//     effects and answers the proposers, read barriers and forwarded calls,
//   - writes the promise and the accepted entries to the Paxos WAL with one
//     fdatasync (a failed write stops the process),
//   - streams snapshots to peers behind its compacted log, and Advance()s.
// Non-leaders forward writes to the leader and ask it for read indexes.
// Design and guarantees: docs/replication.md.
//
// Thread-safe: Submit, ReadBarrier and the peer-service entry points may be
// called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <variant>
#include <vector>

#include "config/config.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "replication/apply_chain.h"
#include "replication/log_store.h"
#include "replication/transport.h"
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
  // The apply rules a proposal of this node gets now: the oldest of the
  // members' (storage::kApplyRules; a member not heard from yet counts at
  // the highest rules applied so far).
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
  // Called on the driver thread after each durable group of applied
  // entries (and after a snapshot install, with the whole state).
  using EffectsListener = std::function<void(const storage::StateMachine::Effects&)>;
  // Called on the driver thread after each synced WAL append with the
  // number of log entries it persisted and the seconds the write and fsync
  // took.
  using GroupObserver = std::function<void(size_t entries, double seconds)>;

  // Joins the cluster of config.masters as the member whose addr equals
  // config.bind. REQUIRES: store and sm outlive the Replicator, and
  // sm->LoadEffects() ran.
  // `restored` is log->Load()'s result, read before the state machine was
  // opened.
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
  // Snapshot install (follower): Begin, then Chunk for each chunk in order,
  // then the last Chunk finishes it. Abort on a broken stream.
  // Begin returns the install's generation, which the other calls name: an
  // install that stalled for a minute is aborted by the driver, and its
  // stream's later calls are refused.
  // Refused unless `from` is the leader this node follows, in `ballot`.
  StatusOr<uint64_t> BeginInstall(consensus::Slot slot, consensus::NodeId from, consensus::Ballot ballot);
  Status InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk);
  void AbortInstall(uint64_t generation);

  void SetSecrets(const Config& config);
  bool leader_known() const { return leader_.load() != 0; }
  ReplicatorStatus status() const;

 private:
  struct Proposal {
    storage::pb::Command cmd;
    Callback done;
    Deadline parked_until;
    bool forwarded = false;  // from a follower: never forward again
    bool held = false;       // went through the leader's batching once
    bool bounced = false;    // refused by a node that no longer leads: wait a tick
    Deadline retry_after{};  // parked: not dispatched again before this
    // Leader, once proposed: the payload handed to the core (the chosen
    // entry is this very object if it is this proposal's value), and for
    // a precomputed write its results.
    std::shared_ptr<const std::string> data = nullptr;
    std::optional<storage::pb::CommandResult> result = std::nullopt;
  };
  struct LeaderRead {
    std::function<void(Status, consensus::Slot)> done;
  };
  using Input = std::variant<consensus::Message, Proposal, LeaderRead>;
  struct AppliedWaiter {
    consensus::Slot index;
    Deadline deadline;
    std::function<void(Status)> done;
  };

  Replicator() = default;
  void Post(Input in);
  void Run();
  void HandleInput(Input& in);
  void StartLeaderReads(std::vector<LeaderRead> reads);
  void AbortInstallLocked();  // REQUIRES: apply_mu_ held
  void HandleReady();
  // The steps of a Ready (consensus::ReadyHandler); consensus::ProcessReady
  // orders them.
  void PersistAcceptorState(const consensus::Ready& rd);
  void SendMessages(consensus::Ready& rd);
  void ApplyCommitted(const consensus::Ready& rd);
  void Publish();
  void Dispatch(Proposal p);  // route a write: propose, forward or park
  // Leader: computes `p` on the speculative state (a
  // write becomes its precomputed mutations) and chains it after the
  // previous proposal; leaves it a plain command when the speculative state
  // cannot start (something before it is not applied yet) or grew too big.
  void Speculate(Proposal& p);
  void EndSpeculation();
  Status LoadApplyHead();  // chain_.head from the store (key s apply_head)
  void RetryParked();
  void FlushHeld(bool force);
  // Sends the writes Dispatch queued for the leader: one ForwardBatch call
  // per leader and driver iteration (one Forward call for a single write).
  void FlushForwards();
  // Forwards `ps` to the leader behind `client` in one call (Forward for a
  // single write, else ForwardBatch).
  void ForwardGroup(PeerClient* client, std::vector<Proposal> ps);
  // Compacts the log behind the applied slot: beyond log_keep_entries
  // entries, or beyond kLogKeepBytes of them.
  void CompactIfNeeded();
  void ResetKept(const consensus::Restored& restored);
  void DropKeptThrough(consensus::Slot upto);
  void StartSnapshot(consensus::NodeId peer);
  void SendSnapshot(PeerClient* client, const leveldb::Snapshot* snap, consensus::Slot slot, consensus::Ballot ballot);
  void WaitApplied(consensus::Slot index, Deadline deadline, std::function<void(Status)> done);
  void FollowerReadIndex();
  void RunCallbacks();
  void Defer(std::function<void()> fn);
  PeerClient* Client(consensus::NodeId id);

  Config config_;
  storage::Store* store_ = nullptr;
  storage::StateMachine* sm_ = nullptr;
  EffectsListener listener_;
  GroupObserver observer_;
  ForwardCheck forward_check_;
  std::unique_ptr<PaxosLogStore> log_;
  std::unique_ptr<PeerIdentity> identity_;
  std::map<consensus::NodeId, std::unique_ptr<PeerClient>> peers_;
  // Apply rules: the newest this binary applies (storage::kApplyRules; the
  // failpoint build reads $KVGO_MAX_APPLY_RULES to play an older version),
  // each peer's from its messages (kUnheard until one arrives; the map is
  // fixed at Start), and the highest any applied command had (every member
  // could apply those once: a peer not heard from counts as that).
  static constexpr uint32_t kUnheard = UINT32_MAX;
  uint32_t max_rules_ = storage::kApplyRules;
  std::map<consensus::NodeId, std::unique_ptr<std::atomic<uint32_t>>> peer_rules_;
  std::atomic<uint32_t> rules_floor_{0};
  // What a proposal gets: the oldest of max_rules_ and every peer's.
  uint32_t ProposalRules() const;
  // The core and its clock: tick n is due at origin_ + n * tick_ and never
  // runs earlier, so a lease in ticks is a lease in real time.
  consensus::Config node_config_;
  std::unique_ptr<consensus::Node> node_;         // under apply_mu_
  std::chrono::steady_clock::time_point origin_;  // under apply_mu_
  int64_t ticks_ = 0;                             // under apply_mu_
  std::chrono::milliseconds tick_{100};
  std::chrono::milliseconds park_limit_{3000};
  // Ids of this process's proposals: random 64-bit values, so that another
  // leader's command, or an earlier incarnation's, chosen in a slot this
  // node proposed to is never mistaken for this node's own (whose client
  // would then hear OK for a write that was not applied).
  std::mt19937_64 proposal_ids_{std::random_device{}()};  // driver thread only

  // Precomputed entries (docs/replication.md "Precomputed entries").
  // chain_: which entry this node applied last (its head, key `s
  // apply_head`, written with the applied data). spec_: the leader's state
  // after everything it proposed, while spec_active_; its last proposal's
  // id is spec_head_.
  ApplyChain chain_;
  std::unique_ptr<storage::StateMachine> spec_;
  bool spec_active_ = false;
  uint64_t spec_head_ = 0;

  // Driver-thread state (the driver holds apply_mu_ while it works; a
  // snapshot install, which takes it too, resets kept_).
  // The applied entries still in the log, oldest first, with their sizes.
  std::deque<std::pair<consensus::Slot, size_t>> kept_;
  size_t kept_bytes_ = 0;
  std::map<consensus::Slot, Proposal> proposed_;       // by slot, this node leading
  std::map<uint64_t, std::vector<LeaderRead>> reads_;  // by read id
  uint64_t next_read_id_ = 0;
  std::vector<Proposal> parked_;  // waiting for a leader
  // Leader batching: while proposals of this node are in flight, new ones
  // wait here (up to kMaxBatchDelay or kMaxBatch) and go out as one round.
  std::vector<Proposal> held_;
  std::chrono::steady_clock::time_point held_since_;
  consensus::NodeId last_leader_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Input> inbox_;                               // GUARDED_BY(mu_)
  bool stopping_ = false;                                  // GUARDED_BY(mu_)
  std::multimap<consensus::Slot, AppliedWaiter> waiters_;  // GUARDED_BY(mu_)
  std::vector<std::function<void()>> deferred_;            // GUARDED_BY(mu_)
  std::condition_variable deferred_cv_;
  bool callbacks_done_ = false;  // GUARDED_BY(mu_): the callbacks thread may exit
  // Follower reads: the batch waiting for the in-flight ReadIndex call, and
  // the batch for the next one.
  bool read_index_in_flight_ = false;  // GUARDED_BY(mu_)
  // Lets a Forward callback hand a bounced write back to the driver; Stop()
  // clears `r` so that callbacks still in flight afterwards never touch
  // this object.
  struct ForwardGate {
    std::mutex mu;
    Replicator* r = nullptr;  // GUARDED_BY(mu)
  };
  std::shared_ptr<ForwardGate> forward_gate_ = std::make_shared<ForwardGate>();
  // A forwarded write's outcome, from the leader's reply (any thread).
  static void FinishForward(const std::shared_ptr<ForwardGate>& gate, Proposal p, const std::string& addr,
                            const grpc::Status& st, const peer::pb::ForwardReply& reply);
  // Writes to forward, by the leader's client (driver thread; sent by
  // FlushForwards). The clients live as long as this object.
  std::map<PeerClient*, std::vector<Proposal>> forwards_;
  std::vector<std::pair<Deadline, std::function<void(Status)>>> next_reads_;  // GUARDED_BY(mu_)
  ReplicatorStatus status_;                                                   // GUARDED_BY(mu_)

  // Snapshot install: the driver does nothing while `installing_`.
  std::mutex apply_mu_;  // held by the driver while it works, and to start an install
  std::atomic<bool> installing_{false};
  std::string install_last_key_;  // under apply_mu_
  consensus::Slot install_slot_ = 0;
  consensus::NodeId install_from_ = 0;
  std::chrono::steady_clock::time_point install_started_;
  std::chrono::steady_clock::time_point last_chunk_at_;  // under apply_mu_
  uint64_t install_gen_ = 0;                             // under apply_mu_
  bool installer_active_ = false;                        // GUARDED_BY(apply_mu_)
  std::map<consensus::NodeId, std::thread> senders_;     // driver thread only
  std::map<consensus::NodeId, std::shared_ptr<std::atomic<bool>>> sending_;
  std::map<consensus::NodeId, consensus::Slot> snapshot_slot_;  // driver thread only: of the last snapshot sent

  // Published by the driver for lock-free fast paths.
  std::atomic<consensus::NodeId> leader_{0};
  std::atomic<bool> fast_leader_{false};    // leader and LeaderReady
  std::atomic<int64_t> lease_until_ns_{0};  // steady clock; 0 = no lease
  std::atomic<uint64_t> applied_{0};
  std::atomic<bool> round_in_flight_{false};  // leader: own proposals not chosen yet
  std::atomic<bool> stop_flag_{false};

  std::thread driver_;
  std::thread callbacks_;
};

}  // namespace kvgo::replication
