#include "replication/replica_cluster.h"

#include <unistd.h>

#include "replication/replica_cluster_node.h"
#include "replication/transport.h"
#include "storage/env.h"

namespace kvgo::replication::testing {

namespace {

constexpr int64_t kT0 = 1700000000000;
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr int kElectionTicks = 10;

// Memory-backed when the machine has it: the simulator fsyncs a lot.
std::filesystem::path TempBase() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

}  // namespace

class ReplicaCluster::Transport final : public PeerTransport {
 public:
  Transport(ReplicaCluster* c, size_t self) : c_(c), self_(self) {}

  void Send(consensus::Message m) override {
    const size_t to = c_->IndexOf(m.to);
    if (to >= c_->nodes_.size() || !c_->Linked(self_, to)) return;
    const int copies = c_->Roll(c_->faults_.duplicate) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
      c_->Deliver([c = c_, to, m] {
        if (c->nodes_[to]->up) c->nodes_[to]->inbox.push_back(m);
      });
    }
  }
  bool Reachable(consensus::NodeId peer) const override {
    const size_t to = c_->IndexOf(peer);
    return to < c_->nodes_.size() && c_->Linked(self_, to) && c_->nodes_[to]->up;
  }
  std::string Addr(consensus::NodeId peer) const override {
    const size_t to = c_->IndexOf(peer);
    return to < c_->nodes_.size() ? c_->nodes_[to]->addr : "";
  }

  void Forward(consensus::NodeId leader, std::vector<storage::pb::Command> cmds, ForwardDone done) override {
    Node& me = *c_->nodes_[self_];
    const size_t to = c_->IndexOf(leader);
    auto reply = Reply<std::vector<peer::pb::ForwardReply>>(std::move(done));
    if (me.bounce_next) {
      me.bounce_next = false;
      std::vector<peer::pb::ForwardReply> replies(cmds.size());
      for (auto& r : replies) r.set_error("this node is not the leader (any more); retry");
      return c_->Deliver([reply, replies] { reply(absl::OkStatus(), replies); }, false);
    }
    const bool lose = me.lose_next_reply || c_->Roll(c_->faults_.lose_reply);
    me.lose_next_reply = false;
    if (to >= c_->nodes_.size() || !c_->Linked(self_, to)) return;  // the timeout answers
    c_->Deliver([c = c_, to, cmds = std::move(cmds), reply, lose]() mutable {
      Node& t = *c->nodes_[to];
      if (!t.up) return;
      const uint64_t call = t.next_call++;
      t.pending[call] = [reply] { reply(absl::UnavailableError("connection reset"), {}); };
      struct Call {
        std::vector<peer::pb::ForwardReply> replies;
        size_t remaining = 0;
      };
      auto state = std::make_shared<Call>();
      state->replies.resize(cmds.size());
      state->remaining = cmds.size();
      for (size_t i = 0; i < cmds.size(); i++) {
        Proposal p;
        p.cmd = std::move(cmds[i]);
        p.forwarded = true;
        p.done = [c, &t, inc = t.incarnation, call, state, i, reply, lose](StatusOr<storage::pb::CommandResult> res) {
          peer::pb::ForwardReply& r = state->replies[i];
          if (res.ok()) {
            *r.mutable_result() = std::move(*res);
          } else {
            r.set_error(std::string(res.status().message()));
            r.set_unknown(absl::IsDeadlineExceeded(res.status()));
          }
          if (--state->remaining > 0 || t.incarnation != inc) return;
          t.pending.erase(call);
          if (lose) return;  // the caller's timeout answers
          c->Deliver([reply, replies = state->replies] { reply(absl::OkStatus(), replies); });
        };
        t.inbox.push_back(std::move(p));
      }
    });
  }

  void ReadIndex(consensus::NodeId leader, ReadIndexDone done) override {
    const size_t to = c_->IndexOf(leader);
    auto reply = Reply<consensus::Slot>(std::move(done));
    if (to >= c_->nodes_.size() || !c_->Linked(self_, to)) return;  // the timeout answers
    c_->Deliver([c = c_, to, reply] {
      Node& t = *c->nodes_[to];
      if (!t.up) return;
      const uint64_t call = t.next_call++;
      t.pending[call] = [reply] { reply(absl::UnavailableError("connection reset"), 0); };
      t.barriers->LeaderIndex([c, &t, inc = t.incarnation, call, reply](Status s, consensus::Slot index) {
        if (t.incarnation != inc) return;
        t.pending.erase(call);
        c->Deliver([reply, s, index] { reply(s, index); });
      });
    });
  }

 private:
  // The caller's side of a call: runs `done` once, on this node's deferred
  // queue, unless it crashed since; a failure at the call's deadline if no
  // answer came first.
  template <typename T>
  std::function<void(Status, T)> Reply(std::function<void(Status, T)> done) {
    auto fired = std::make_shared<bool>(false);
    Node* me = c_->nodes_[self_].get();
    std::function<void(Status, T)> reply = [me, inc = me->incarnation, fired, done](Status s, T v) {
      if (*fired) return;
      *fired = true;
      if (!me->up || me->incarnation != inc) return;
      me->deferred.push_back([done, s, v] { done(s, v); });
    };
    const int64_t due = c_->clock_.MonotonicMs() + kCallTimeoutMs;
    c_->network_[{due, c_->next_seq_++}] = [reply] { reply(absl::DeadlineExceededError("deadline exceeded"), T{}); };
    return reply;
  }

  ReplicaCluster* const c_;
  const size_t self_;
};

ReplicaCluster::ReplicaCluster(const std::string& name, ClusterOptions options)
    : dir_(TempBase() / ("kvgo-replica-" + name + "-" + std::to_string(getpid()))),
      options_(options),
      clock_(kT0),
      rng_(options.seed),
      disk_(leveldb::Env::Default()),
      env_(storage::NewStorageEnv(&disk_)) {
  std::filesystem::remove_all(dir_);
  std::vector<consensus::NodeId> ids;
  for (size_t i = 0; i < options_.nodes; i++) {
    auto node = std::make_unique<Node>();
    node->index = i;
    node->addr = "127.0.0." + std::to_string(i + 1) + ":9100";
    node->id = NodeIdOf(node->addr);
    double rate = 1;
    int64_t offset_ms = 0;
    if (options_.max_clock_drift > 0) {
      rate = std::uniform_real_distribution<double>(1 - options_.max_clock_drift, 1 + options_.max_clock_drift)(rng_);
      offset_ms = std::uniform_int_distribution<int64_t>(-500, 500)(rng_);
    }
    node->clock = std::make_unique<DriftClock>(&clock_, rate, offset_ms);
    ids.push_back(node->id);
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) {
    node->peers = ids;
    Boot(*node);
  }
}

ReplicaCluster::~ReplicaCluster() {
  for (auto& node : nodes_) {
    if (node->up) CrashNow(*node, false);
  }
  nodes_.clear();
  std::filesystem::remove_all(dir_);
}

void ReplicaCluster::Boot(Node& node) {
  storage::StoreOptions so;
  so.data_directory = (dir_ / std::to_string(node.index)).string();
  so.env = env_.get();
  node.store = std::move(storage::Store::Open(so).value());
  Wal::Options wo;
  wo.testing_skip_sync = options_.bug_skip_log_sync;
  node.wal = std::move(PaxosLogStore::Open(node.store.get(), wo).value());
  node.log = std::make_unique<Log>(this, &node, node.wal.get());
  consensus::Restored restored = node.wal->Load().value();
  node.sm = std::move(storage::StateMachine::Open(node.store.get()).value());
  node.catalog = std::make_unique<storage::Catalog>();
  const auto effects = node.sm->LoadEffects().value();
  for (const auto& t : effects.tables) node.catalog->PutTable(t);
  node.catalog->PutLogVersions(effects.log_versions);
  node.query = std::make_unique<storage::QueryEngine>(node.store.get(), node.catalog.get(), node.clock.get());
  if (empty_digest_.empty()) empty_digest_ = Digest(node.index);
  std::vector<consensus::NodeId> others;
  for (consensus::NodeId id : node.peers) {
    if (id != node.id) others.push_back(id);
  }
  node.rules = std::make_unique<ApplyRules>(storage::kApplyRules, others);
  node.transport = std::make_unique<Transport>(this, node.index);
  node.snapshots = std::make_unique<Snapshots>(this, node.index);
  Node* raw = &node;
  ReadBarriers::Hooks hooks;
  hooks.leader = [raw] { return raw->replica ? raw->replica->view().leader : 0; };
  hooks.leader_ready = [raw] { return raw->replica && raw->replica->view().leader_ready; };
  hooks.under_lease = [raw] {
    return raw->replica && raw->replica->view().leader_ready &&
           raw->clock->SteadyNow() < raw->replica->view().lease_until;
  };
  hooks.post = [raw](replication::LeaderRead rd) { raw->inbox.push_back(std::move(rd)); };
  hooks.defer = [raw](std::function<void()> fn) { raw->deferred.push_back(std::move(fn)); };
  node.barriers = std::make_unique<ReadBarriers>(node.transport.get(), std::move(hooks));

  Replica::Options o;
  o.node.id = node.id;
  o.node.members = node.peers;
  o.node.cluster_id = 1;
  o.node.heartbeat_ticks = 1;
  o.node.election_ticks = kElectionTicks;
  o.node.lease_margin_ticks = 2;
  o.node.seed = options_.seed ^ (uint64_t{node.id} << 1) ^ (node.incarnation << 40);
  o.node.testing_count_unpersisted = options_.bug_count_unpersisted;
  o.node.testing_vote_despite_live_leader = options_.bug_vote_despite_live_leader;
  o.self_addr = node.addr;
  o.tick = kTick;
  o.park_limit = 2 * kElectionTicks * kTick + std::chrono::milliseconds(1000);
  o.log_keep_entries = options_.log_keep_entries;
  o.proposal_seed = options_.seed * 1000003 + node.index * 7919 + node.incarnation;
  o.testing_retry_unknown = options_.bug_retry_unknown;
  o.testing_keep_stale_keys = options_.bug_keep_stale_keys;
  Replica::Env env;
  env.transport = node.transport.get();
  env.snapshots = node.snapshots.get();
  env.log = node.log.get();
  env.store = node.store.get();
  env.sm = node.sm.get();
  env.rules = node.rules.get();
  env.clock = node.clock.get();
  env.defer = [raw](std::function<void()> fn) { raw->deferred.push_back(std::move(fn)); };
  env.repost = [raw, inc = node.incarnation](Proposal p) {
    if (raw->up && raw->incarnation == inc) raw->inbox.push_back(std::move(p));
  };
  env.applied = [raw](consensus::Slot slot) {
    raw->published_applied = slot;
    raw->barriers->SetApplied(slot);
  };
  env.listener = [raw](const storage::StateMachine::Effects& e) {
    for (const auto& t : e.tables) raw->catalog->PutTable(t);
    raw->catalog->PutLogVersions(e.log_versions);
  };
  node.replica = std::move(Replica::Open(std::move(o), std::move(env), std::move(restored)).value());
  node.barriers->SetApplied(node.replica->view().applied);
  node.up = true;
}

void ReplicaCluster::CrashNow(Node& node, bool power_cut) {
  const std::string dir = (dir_ / std::to_string(node.index)).string();
  if (power_cut) disk_.PowerOff(dir);
  node.up = false;
  node.busy_until = 0;  // its sends after a slow write never leave
  node.clock->ClearStall();
  node.clock->SetInRound(false);
  node.incarnation++;
  auto pending = std::move(node.pending);
  node.pending.clear();
  node.inbox.clear();
  node.deferred.clear();
  node.replica.reset();
  node.snapshots.reset();  // its readers hold snapshots of the store
  node.barriers.reset();
  node.query.reset();
  node.catalog.reset();
  node.sm.reset();
  node.log.reset();
  node.wal.reset();
  node.store.reset();
  if (power_cut) {
    power_cuts_++;
    bytes_lost_ += disk_.PowerOn(dir);
  }
  for (auto& [id, fail] : pending) fail();
}

void ReplicaCluster::Crash(size_t node) {
  if (nodes_[node]->up) CrashNow(*nodes_[node], Roll(faults_.power_loss));
}

void ReplicaCluster::SetClockRate(size_t node, double rate) { nodes_[node]->clock->SetRate(rate); }

Status ReplicaCluster::Log::Persist(const std::optional<consensus::HardState>& hs,
                                    const std::vector<consensus::Entry>& e) {
  if (c_->Roll(c_->faults_.crash_in_persist)) throw CrashSignal{};
  if (node_->next_fsync_ms > 0) {
    c_->Stall(*node_, node_->next_fsync_ms);
    node_->next_fsync_ms = 0;
  } else if (c_->Roll(c_->faults_.slow_fsync)) {
    int64_t ms = std::uniform_int_distribution<int64_t>(10, 300)(c_->rng_);
    if (c_->Roll(0.1)) ms = std::uniform_int_distribution<int64_t>(1000, 3000)(c_->rng_);
    c_->Stall(*node_, ms);
  }
  return wal_->Persist(hs, e);
}

void ReplicaCluster::SlowNextFsync(size_t node, int64_t ms) { nodes_[node]->next_fsync_ms = ms; }

void ReplicaCluster::PowerCut(size_t node) {
  if (nodes_[node]->up) CrashNow(*nodes_[node], true);
}

void ReplicaCluster::Restart(size_t node) {
  if (!nodes_[node]->up) Boot(*nodes_[node]);
}

bool ReplicaCluster::up(size_t node) const { return nodes_[node]->up; }

size_t ReplicaCluster::IndexOf(consensus::NodeId id) const {
  for (const auto& node : nodes_) {
    if (node->id == id) return node->index;
  }
  return nodes_.size();
}

bool ReplicaCluster::Linked(size_t from, size_t to) const { return cut_.count({from, to}) == 0; }

void ReplicaCluster::Isolate(size_t node) {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (i == node) continue;
    cut_.insert({node, i});
    cut_.insert({i, node});
  }
}

bool ReplicaCluster::Roll(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

bool ReplicaCluster::DeliverOn(size_t from, size_t to, std::function<void()> fn) {
  if (!Linked(from, to) || Roll(faults_.drop)) return false;
  Deliver(std::move(fn), false);
  return true;
}

void ReplicaCluster::After(int64_t ms, std::function<void()> fn) {
  network_[{clock_.MonotonicMs() + ms, next_seq_++}] = std::move(fn);
}

void ReplicaCluster::Deliver(std::function<void()> fn, bool droppable) {
  if (droppable && Roll(faults_.drop)) return;
  int64_t delay = 0;
  if (faults_.max_delay_ms > 0) delay = std::uniform_int_distribution<int64_t>(0, faults_.max_delay_ms)(rng_);
  if (running_ != nullptr && running_->busy_until > clock_.MonotonicMs()) {
    delay += running_->busy_until - clock_.MonotonicMs();
    fn = [fn = std::move(fn), node = running_, inc = running_->incarnation] {
      if (node->incarnation == inc) fn();  // sent once its write returned
    };
  }
  network_[{clock_.MonotonicMs() + delay, next_seq_++}] = std::move(fn);
}

bool ReplicaCluster::Round() {
  bool busy = false;
  while (!network_.empty() && network_.begin()->first.first <= clock_.MonotonicMs()) {
    auto fn = std::move(network_.begin()->second);
    network_.erase(network_.begin());
    fn();
    busy = true;
  }
  for (auto& node : nodes_) {
    if (!node->up) continue;
    if (node->busy_until <= clock_.MonotonicMs()) {
      busy = busy || !node->inbox.empty();
      HandleInbox(*node);
    }
    busy = RunDeferred(*node) || busy;
  }
  return busy;
}

void ReplicaCluster::HandleInbox(Node& node) {
  std::vector<Input> in;
  in.swap(node.inbox);
  if (RunReplica(node, [&] { node.replica->Handle(in); })) node.barriers->Expire(node.clock->SteadyNow());
}

bool ReplicaCluster::RunReplica(Node& node, const std::function<void()>& fn) {
  running_ = &node;
  node.clock->SetInRound(true);
  try {
    fn();
  } catch (const CrashSignal&) {
    running_ = nullptr;
    CrashNow(node, Roll(faults_.power_loss));
    return false;
  }
  node.clock->SetInRound(false);
  running_ = nullptr;
  return true;
}

std::shared_ptr<std::optional<Status>> ReplicaCluster::ChangeMembership(size_t i, consensus::Membership next) {
  auto out = std::make_shared<std::optional<Status>>();
  Node& node = *nodes_[i];
  std::vector<peer::pb::Member> members;
  for (const auto& n : nodes_) {
    if (!next.Contains(n->id)) continue;
    members.emplace_back().set_id(n->id);
    members.back().set_addr(n->addr);
  }
  RunReplica(node, [&] { node.replica->ChangeMembership(next, members, [out](Status s) { *out = s; }); });
  return out;
}

Status ReplicaCluster::TransferLeadership(size_t i, size_t to) {
  Node& node = *nodes_[i];
  Status s;
  RunReplica(node, [&] { s = node.replica->TransferLeadership(nodes_[to]->id); });
  return s;
}

consensus::NodeId ReplicaCluster::id(size_t node) const { return nodes_[node]->id; }

bool ReplicaCluster::RunDeferred(Node& node) {
  bool ran = false;
  while (node.up && !node.deferred.empty()) {
    auto fn = std::move(node.deferred.front());
    node.deferred.pop_front();
    fn();
    ran = true;
  }
  return ran;
}

void ReplicaCluster::Stall(Node& node, int64_t ms) {
  slow_fsyncs_++;
  // A second slow write in the same round comes after the first.
  node.busy_until = std::max(node.busy_until, clock_.MonotonicMs()) + ms;
  node.clock->StallUntil(node.busy_until);
}

void ReplicaCluster::AdvanceToNextTimer() {
  const int64_t now = clock_.MonotonicMs();
  // At most a tick: with every node down there is no timer at all.
  int64_t next = now + kTick.count();
  for (const auto& node : nodes_) {
    if (!node->up) continue;
    if (node->busy_until > now) {
      next = std::min(next, node->busy_until);
      continue;
    }
    const auto wake = node->replica->NextWake();
    if (wake != std::chrono::steady_clock::time_point::max()) next = std::min(next, node->clock->BaseMs(wake));
  }
  if (!network_.empty()) next = std::min(next, network_.begin()->first.first);
  clock_.Advance(std::max<int64_t>(1, next - now));
}

bool ReplicaCluster::RunUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto end = clock_.SteadyNow() + limit;
  while (!pred()) {
    if (clock_.SteadyNow() >= end) return false;
    if (!Round()) AdvanceToNextTimer();
  }
  return true;
}

void ReplicaCluster::RunFor(std::chrono::milliseconds d) {
  RunUntil([] { return false; }, d);
}

std::optional<size_t> ReplicaCluster::WaitForLeader() {
  std::optional<size_t> leader;
  RunUntil([&] {
    for (const auto& node : nodes_) {
      if (node->up && node->replica->view().leader_ready) leader = node->index;
    }
    return leader.has_value();
  });
  return leader;
}

}  // namespace kvgo::replication::testing
