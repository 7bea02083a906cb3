// Replica: one member's replication logic, without threads or I/O of its
// own. It drives the Multi-Paxos core (consensus::Node) from ticks of its
// Clock, peer messages, writes and reads, and does each Ready in
// consensus::ProcessReady's order through its ports (ports.h): messages
// to the PeerTransport, chosen entries to the Applier, the acceptor's state
// to the AcceptorLog, snapshots to the SnapshotSender.
//
// Production runs one inside a Replicator (threads, gRPC); the simulator
// and the tests run several in one thread over simulated ports.
//
// Not thread-safe: one caller at a time (the Replicator holds its
// apply_mu_). Callbacks (a write's `done`, a read's) run on the calling
// thread unless said otherwise.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "replication/applier.h"
#include "replication/apply_rules.h"
#include "replication/ports.h"
#include "replication/proposal.h"
#include "replication/router.h"
#include "replication/snapshot_installer.h"

namespace kvgo::replication {

using Input = std::variant<consensus::Message, Proposal, LeaderRead>;

// What the Replica shows the world after each round (metrics, fast paths).
struct ReplicaView {
  consensus::Role role = consensus::Role::kFollower;
  consensus::NodeId leader = 0;
  std::string leader_addr;    // "" when none
  bool leader_ready = false;  // leader, and able to serve (LeaderReady)
  // Leader reads are served without a round until this (min(): no lease).
  std::chrono::steady_clock::time_point lease_until{};
  bool round_in_flight = false;  // leader: own proposals not chosen yet
  uint64_t ballot_round = 0;
  consensus::Slot commit = 0, applied = 0, compacted = 0;
  uint64_t log_bytes = 0;
  uint64_t forwarded = 0, forward_calls = 0;
  uint64_t snapshots_received = 0, leader_changes = 0, entries_skipped = 0;
  uint64_t installs_aborted = 0;     // snapshot installs that did not finish
  consensus::Membership membership;  // governing the next unchosen slot
  bool membership_changing = false;  // a change is proposed or accepted, not known chosen
};

class Replica {
 public:
  struct Options {
    consensus::Config node;  // the core's config (members, timing in ticks, seed)
    std::string self_addr;   // this member's address (for the log)
    std::chrono::steady_clock::duration tick = std::chrono::milliseconds(100);
    std::chrono::steady_clock::duration park_limit = std::chrono::seconds(3);
    uint64_t log_keep_entries = 10000;
    uint64_t proposal_seed = 0;
    bool testing_retry_unknown = false;    // Router::Options
    bool testing_keep_stale_keys = false;  // SnapshotInstaller
  };
  // The world. Everything outlives the Replica; `defer` and `repost` are
  // thread-safe and may run their argument later on another thread.
  struct Env {
    PeerTransport* transport = nullptr;
    SnapshotSender* snapshots = nullptr;
    AcceptorLog* log = nullptr;
    storage::Store* store = nullptr;
    storage::StateMachine* sm = nullptr;  // REQUIRES: LoadEffects() ran
    ApplyRules* rules = nullptr;
    Clock* clock = nullptr;
    std::function<void(std::function<void()>)> defer;  // runs read continuations
    Router::Repost repost;                             // a bounced forwarded write
    Applier::EffectsListener listener;
    // The applied slot, each time it changes, before any answer that
    // depends on it (a leader's read index under its lease is this slot).
    std::function<void(consensus::Slot)> applied;
    // After each synced log write: entries persisted, seconds it took.
    std::function<void(size_t, double)> observer;
  };

  // `restored`: what env.log->Load() returned.
  static StatusOr<std::unique_ptr<Replica>> Open(Options options, Env env, consensus::Restored restored);

  // One round: the ticks due by now, then `in` (messages stepped, writes
  // dispatched, reads started), every Ready, forwards, compaction. While a
  // snapshot installs, timers pause and messages are dropped.
  void Handle(std::vector<Input>& in);
  // When Handle must run next even without input.
  std::chrono::steady_clock::time_point NextWake() const;
  ReplicaView view() const { return view_; }
  // Answers everything pending (Stop).
  void FailAll();

  // Leader: proposes a membership change (consensus::Node::ProposeMembership)
  // whose record names the addresses in `members`. `done` runs once: OK
  // when the change is chosen, applied here and known to a quorum of the
  // new voters (consensus::Node::MembershipSettled), or chosen and this
  // node no longer leads; FailedPrecondition with
  // the reason if it cannot be proposed (not the leader, another change in
  // flight, no reachable quorum, ...); Aborted if another value took its
  // slot; DeadlineExceeded if this node stopped leading first (outcome
  // unknown); Unavailable on FailAll.
  void ChangeMembership(consensus::Membership next, std::vector<peer::pb::Member> members,
                        std::function<void(Status)> done);
  // Leader: hands leadership to voter `to` (consensus::Node::
  // TransferLeadership); FailedPrecondition with the reason if it cannot.
  // Whether it happened shows in view().leader.
  Status TransferLeadership(consensus::NodeId to);

  // Snapshot install (follower), from the leader `from` of `ballot`: Begin,
  // then Chunk for each chunk in order; the last one finishes it. Abort on
  // a broken stream. Begin returns the install's generation, which the
  // other calls name; refused unless `from` is the leader this node
  // follows, in `ballot`.
  StatusOr<uint64_t> BeginInstall(consensus::Slot slot, consensus::NodeId from, consensus::Ballot ballot);
  Status InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk);
  void AbortInstall(uint64_t generation);
  bool installing() const { return installer_.active(); }

 private:
  Replica(Options options, Env env)
      : options_(std::move(options)),
        env_(std::move(env)),
        installer_(env_.store, env_.clock, options_.testing_keep_stale_keys) {}
  void HandleReady();
  void ApplyReady(const consensus::Ready& rd);
  void StartLeaderReads(std::vector<LeaderRead> reads);
  void CompactIfNeeded();
  void ResetKept(const consensus::Restored& restored);
  void AnswerChange();
  void DropKeptThrough(consensus::Slot upto);
  void AbortActiveInstall();  // resets this node's data
  void Publish();

  const Options options_;
  const Env env_;
  std::unique_ptr<Applier> applier_;
  std::unique_ptr<Router> router_;
  SnapshotInstaller installer_;
  // The core and its time: tick n is due at origin_ + n * tick and never
  // runs earlier, so a lease in ticks is a lease in real time.
  std::unique_ptr<consensus::Node> node_;
  std::chrono::steady_clock::time_point origin_{};
  int64_t ticks_ = 0;
  // The applied entries still in the log, oldest first, with their sizes.
  std::deque<std::pair<consensus::Slot, size_t>> kept_;
  size_t kept_bytes_ = 0;
  std::map<uint64_t, std::vector<LeaderRead>> reads_;  // by read id
  // The membership change this leader proposed and has not answered.
  struct PendingChange {
    consensus::Slot slot = 0;
    consensus::Slot base = 0;                   // the membership slot it was computed from
    std::shared_ptr<const std::string> record;  // the entry's data: identifies it
    bool chosen = false;                        // chosen and applied here
    std::function<void(Status)> done;
  };
  std::optional<PendingChange> change_;
  uint64_t next_read_id_ = 0;
  consensus::NodeId last_leader_ = 0;
  ReplicaView view_;
};

}  // namespace kvgo::replication
