// Test-only: ReplicaCluster, N production Replicas (with their
// ReadBarriers, state machines, QueryEngines, Paxos WALs and LevelDB stores
// in a temporary directory) in one thread, over a simulated network, on one
// manual clock. Every choice is drawn from one seed, so a run replays.
//
// A round delivers what the network has due, then runs each live node's
// Replica on its inbox and runs its deferred callbacks. When no node has
// work, the clock jumps to the next timer or delivery.
//
// Faults: messages and calls dropped, duplicated (messages) and delayed;
// links cut one way or both; a forwarded call's reply lost (the caller then
// hears a transport error: outcome unknown); a node crashed between rounds
// or in the middle of a Ready, after its messages left and before its
// write (its log's Persist never returns), and restarted from its files; a
// crash that is a power cut, which also loses every write the node had not
// synced, in LevelDB and in the Paxos WAL (storage/power_loss_env.h); a
// slow fsync of a log write, during which the node takes no input (as the
// production driver, which persists in its loop) and after which what it
// sends leaves.
//
// Not thread-safe.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "kvspec.pb.h"
#include "replication/replica.h"
#include "storage/power_loss_env.h"

namespace kvgo::replication::testing {

struct ClusterFaults {
  double drop = 0;              // per message or call
  double duplicate = 0;         // per message
  int max_delay_ms = 0;         // each delivery waits 0..max_delay_ms
  double lose_reply = 0;        // per forwarded call that reached the leader
  double crash_in_persist = 0;  // per log write of a node
  double power_loss = 0;        // share of crashes that are power cuts
  // Per log write: its fsync takes 10-300 ms, one in ten of those 1-3 s
  // (longer than an election timeout).
  double slow_fsync = 0;
};

struct ClusterOptions {
  size_t nodes = 3;
  uint64_t seed = 1;
  // Deliberately broken rules, to prove a run catches them.
  bool bug_count_unpersisted = false;         // consensus::Config
  bool bug_retry_unknown = false;             // Router::Options
  bool bug_keep_stale_keys = false;           // SnapshotInstaller
  bool bug_vote_despite_live_leader = false;  // consensus::Config
  bool bug_skip_log_sync = false;             // Wal::Options
  // Replica::Options::log_keep_entries: a node further behind than this
  // gets a snapshot (the default: never).
  int log_keep_entries = 1 << 30;
  // Each node's clock runs at a rate drawn from [1 - d, 1 + d] of true
  // time (its wall clock also up to 500 ms off); 0: every clock is true.
  double max_clock_drift = 0;
};

class ReplicaCluster {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  template <typename T>
  using Answer = std::shared_ptr<std::optional<StatusOr<T>>>;

  // `name` names the temporary directory (removed by the destructor).
  ReplicaCluster(const std::string& name, ClusterOptions options);
  ReplicaCluster(const std::string& name, size_t n) : ReplicaCluster(name, ClusterOptions{n}) {}
  ~ReplicaCluster();

  // Runs rounds until `pred` holds (true) or `limit` of simulated time
  // passed (false).
  bool RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = std::chrono::milliseconds(30000));
  void RunFor(std::chrono::milliseconds d);
  // Index of a node that leads and serves, once one does.
  std::optional<size_t> WaitForLeader();
  ManualClock& clock() { return clock_; }
  std::mt19937_64& rng() { return rng_; }
  size_t size() const { return nodes_.size(); }

  // Client calls on node `node`. Each `done` runs exactly once: with the
  // node's answer, or DeadlineExceeded ("outcome unknown") if the node
  // crashed first.
  storage::pb::Command Put(const std::string& key, const std::string& value);
  Answer<storage::pb::CommandResult> Submit(size_t node, storage::pb::Command cmd);
  void Submit(size_t node, storage::pb::Command cmd, storage::CommandLog::Callback done);
  // A linearizable read: `done` gets the node's answer to `reader` once its
  // read barrier passed (ReadBarriers::Read), or why not.
  void Read(size_t node, lynkdb::kvspec::v2::ObjectReader reader, Deadline deadline,
            std::function<void(StatusOr<lynkdb::kvspec::v2::ObjectResult>)> done);
  Answer<consensus::Slot> LeaderRead(size_t node);

  // Faults.
  void SetFaults(ClusterFaults f) { faults_ = f; }
  void Cut(size_t from, size_t to) { cut_.insert({from, to}); }
  void Isolate(size_t node);
  void HealLinks() { cut_.clear(); }
  // From now on the node's clock runs at `rate` of true time.
  void SetClockRate(size_t node, double rate);
  void Crash(size_t node);  // a power cut with the share faults say
  void PowerCut(size_t node);
  // The node's next log write takes `ms` of simulated time.
  void SlowNextFsync(size_t node, int64_t ms);
  void Restart(size_t node);
  bool up(size_t node) const;
  // The next Forward call of `node` is refused by the leader's side as "not
  // the leader" (certainly not applied), without reaching its Replica.
  void BounceNextForward(size_t node);
  // The next Forward call of `node` reaches the leader, but its reply is
  // lost: the caller hears a transport error.
  void LoseNextForwardReply(size_t node);

  // Membership (Replica::ChangeMembership, naming every node's address)
  // and leadership transfer, asked of `node`. The change's answer is set as
  // the cluster runs (never if the node crashes first).
  std::shared_ptr<std::optional<Status>> ChangeMembership(size_t node, consensus::Membership next);
  Status TransferLeadership(size_t node, size_t to);
  consensus::NodeId id(size_t node) const;

  // REQUIRES: up(node).
  ReplicaView view(size_t node) const;
  uint64_t forward_calls(size_t node) const { return view(node).forward_calls; }
  // The applied slot as the node last published it (Env::applied).
  consensus::Slot published_applied(size_t node) const;
  // Every live node applied everything any live node committed.
  bool AllApplied() const;
  // A digest of node's replicated KV state (every key outside the Paxos
  // space), and of a new store's.
  std::string Digest(size_t node) const;
  std::string EmptyDigest() const { return empty_digest_; }
  // Snapshot streams that every node took in full, and installs broken
  // off, since the cluster began.
  uint64_t snapshots_installed() const { return snapshots_installed_; }
  uint64_t installs_aborted() const { return installs_aborted_; }
  // Power cuts, and the unsynced bytes they dropped.
  uint64_t power_cuts() const { return power_cuts_; }
  uint64_t slow_fsyncs() const { return slow_fsyncs_; }
  uint64_t bytes_lost() const { return bytes_lost_; }

 private:
  struct Node;
  class Transport;
  class Log;
  class Snapshots;
  struct Delivery {
    int64_t due_ms;
    uint64_t seq;
    std::function<void()> run;
  };

  void Boot(Node& node);
  void CrashNow(Node& node, bool power_cut);
  void Stall(Node& node, int64_t ms);  // a slow fsync, from now
  // The node's Replica on its inbox (not while busy), then its callbacks
  // (also while busy: production runs them on a thread of their own).
  void HandleInbox(Node& node);
  // Runs `fn` (a call of node's Replica) as a round of that node: its
  // sends wait for its fsync, a crash in its write crashes it. Returns
  // false if it crashed.
  bool RunReplica(Node& node, const std::function<void()>& fn);
  bool RunDeferred(Node& node);  // whether any ran
  // One round over every node; returns whether any had work.
  bool Round();
  void AdvanceToNextTimer();
  bool Linked(size_t from, size_t to) const;
  size_t IndexOf(consensus::NodeId id) const;
  // Runs `fn` after the network's delay, or never (dropped).
  void Deliver(std::function<void()> fn, bool droppable = true);
  // Runs `fn` after the network's delay over the link from -> to; false
  // (and never) when the link is cut or the message dropped.
  bool DeliverOn(size_t from, size_t to, std::function<void()> fn);
  // Runs `fn` `ms` of simulated time from now.
  void After(int64_t ms, std::function<void()> fn);
  bool Roll(double p);

  const std::filesystem::path dir_;
  const ClusterOptions options_;
  ClusterFaults faults_;
  ManualClock clock_;
  std::mt19937_64 rng_;
  storage::PowerLossEnv disk_;                // every node's files
  std::unique_ptr<leveldb::Env> env_;         // storage::NewStorageEnv over disk_
  std::vector<std::unique_ptr<Node>> nodes_;  // closed before the Envs go
  std::set<std::pair<size_t, size_t>> cut_;
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> network_;
  uint64_t next_seq_ = 0;
  Node* running_ = nullptr;  // the node whose Replica runs: its sends wait for its fsync
  std::string empty_digest_;
  uint64_t snapshots_installed_ = 0, installs_aborted_ = 0;
  uint64_t power_cuts_ = 0, bytes_lost_ = 0, slow_fsyncs_ = 0;
};

}  // namespace kvgo::replication::testing
