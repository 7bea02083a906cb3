#include "replication/replicator.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "common/failpoint.h"
#include "common/limits.h"
#include "consensus/ready.h"
#include "storage/keys.h"

namespace kvgo::replication {

namespace {

using consensus::NodeId;
using consensus::Slot;
using Clock = std::chrono::steady_clock;

constexpr auto kForwardTimeout = std::chrono::seconds(10);
constexpr auto kReadIndexTimeout = std::chrono::seconds(3);
// Snapshot pairs per chunk, or one larger pair alone (a stored object is at
// most limits::kMaxCommandBytes, so a chunk fits a peer message).
constexpr size_t kSnapshotChunkBytes = 1 << 20;
static_assert(kSnapshotChunkBytes <= limits::kPeerBatchBytes);
// Leader batching (see Dispatch): a write waits at most this long for the
// round in flight, and a round carries at most this many new writes.
constexpr auto kMaxBatchDelay = std::chrono::microseconds(1500);
constexpr size_t kMaxBatch = 1024;
// The applied entries the log keeps for lagging peers take at most this
// much memory (the core holds them) besides log_keep_entries: with large
// values the byte bound compacts first, and a peer further behind gets a
// snapshot.
constexpr size_t kLogKeepBytes = 64 << 20;
// A snapshot install that receives no chunk for this long is aborted.
constexpr auto kInstallStall = std::chrono::seconds(60);

std::vector<Member> MembersOf(const Config& config) {
  std::vector<Member> out;
  for (const auto& m : config.masters) out.push_back({NodeIdOf(m.addr), m.addr});
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Replicator>> Replicator::Start(const Config& config, storage::Store* store,
                                                        storage::StateMachine* sm, std::unique_ptr<PaxosLogStore> log,
                                                        consensus::Restored restored, EffectsListener listener,
                                                        GroupObserver observer) {
  std::unique_ptr<Replicator> r(new Replicator());
  r->forward_gate_->r = r.get();
  r->config_ = config;
  r->store_ = store;
  r->sm_ = sm;
  r->listener_ = std::move(listener);
  r->observer_ = std::move(observer);
  r->log_ = std::move(log);
  r->tick_ = std::chrono::milliseconds(config.heartbeat_ms);
  r->park_limit_ = std::chrono::milliseconds(2 * config.election_timeout_ms + 1000);

  std::vector<Member> members = MembersOf(config);
  std::vector<std::string> addrs;
  const Member* self = nullptr;
  for (const auto& m : members) {
    addrs.push_back(m.addr);
    if (m.addr == config.bind) self = &m;
    for (const auto& o : members) {
      if (&o != &m && o.id == m.id) {
        return absl::InvalidArgumentError("cluster.masters: " + m.addr + " and " + o.addr +
                                          " map to the same node id; change one address");
      }
    }
  }
  if (self == nullptr) {
    return absl::InvalidArgumentError("cluster.masters: no entry has addr = server.bind (\"" + config.bind +
                                      "\"); each node must find itself in the list by its bind address");
  }
  const Member me = *self;
  const uint64_t cluster_id = ClusterIdOf(addrs);
  r->identity_ = std::make_unique<PeerIdentity>(me, cluster_id, members, PeerKey(config), config.tls.enabled());
  if (config.peer_secret.empty()) {
    spdlog::info(
        "peer key derived from every master's auth_secret_key: a client holding all of them could act as a "
        "master; set [cluster] peer_secret (the same on every master) for a credential no client holds");
  }
  const auto creds = PeerCredentials(config.tls);
#ifdef KVGO_FAILPOINTS
  if (const char* v = getenv("KVGO_MAX_APPLY_RULES"); v != nullptr && *v != 0) {
    r->max_rules_ = std::min<uint32_t>(storage::kApplyRules, static_cast<uint32_t>(std::strtoul(v, nullptr, 10)));
    spdlog::warn("KVGO_MAX_APPLY_RULES: applying as a version that knows apply rules up to {}", r->max_rules_);
  }
#endif
  for (const auto& m : members) {
    if (m.id == me.id) continue;
    r->peers_[m.id] = std::make_unique<PeerClient>(m, r->identity_.get(), creds, r->max_rules_);
    r->peer_rules_[m.id] = std::make_unique<std::atomic<uint32_t>>(kUnheard);
  }

  consensus::Config cc;
  cc.id = me.id;
  for (const auto& m : members) cc.members.push_back(m.id);
  cc.cluster_id = cluster_id;
  cc.heartbeat_ticks = 1;
  cc.election_ticks = std::max(3, config.election_timeout_ms / config.heartbeat_ms);
  cc.lease_margin_ticks = std::max(1, cc.election_ticks / 5);
  cc.seed = std::random_device{}() ^ (uint64_t{me.id} << 32);
  r->applied_ = restored.applied;
  r->rules_floor_ = sm->apply_rules_floor();  // the caller ran LoadEffects
  if (Status s = r->LoadApplyHead(); !s.ok()) return s;
  auto spec = storage::StateMachine::Open(store);
  if (!spec.ok()) return spec.status();
  r->spec_ = std::move(*spec);
  spdlog::info(
      "cluster mode: node {} ({}) of {} masters, cluster id {:016x}; "
      "applied slot {}, {} log entries",
      me.id, me.addr, members.size(), cluster_id, restored.applied, restored.entries.size());
  r->node_config_ = cc;
  r->ResetKept(restored);
  r->node_ = std::make_unique<consensus::Node>(cc, std::move(restored));
  r->status_.id = me.id;
  r->origin_ = Clock::now();
  r->driver_ = std::thread([p = r.get()] {
    pthread_setname_np(pthread_self(), "kvgo-paxos");
    p->Run();
  });
  r->callbacks_ = std::thread([p = r.get()] {
    pthread_setname_np(pthread_self(), "kvgo-paxos-cb");
    p->RunCallbacks();
  });
  return r;
}

Replicator::~Replicator() { Stop(); }

void Replicator::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  {
    std::lock_guard lock(forward_gate_->mu);
    forward_gate_->r = nullptr;
  }
  stop_flag_ = true;
  cv_.notify_all();
  if (driver_.joinable()) driver_.join();
  for (auto& [id, t] : senders_) {
    if (t.joinable()) t.join();
  }
  for (auto& [id, p] : peers_) p->Stop();
  // Everything still pending fails: the outcome of proposals is unknown.
  const Status down = absl::UnavailableError("server is shutting down");
  std::vector<Input> inbox;
  std::multimap<Slot, AppliedWaiter> waiters;
  std::vector<std::pair<Deadline, std::function<void(Status)>>> next_reads;
  {
    std::lock_guard lock(mu_);
    inbox.swap(inbox_);
    waiters.swap(waiters_);
    next_reads.swap(next_reads_);
  }
  for (auto& in : inbox) {
    if (auto* p = std::get_if<Proposal>(&in)) p->done(down);
    if (auto* rd = std::get_if<LeaderRead>(&in)) rd->done(down, 0);
  }
  for (auto& [slot, p] : proposed_) {
    p.done(absl::DeadlineExceededError("server is shutting down; the write's outcome is unknown"));
  }
  proposed_.clear();
  for (auto& p : parked_) p.done(down);
  parked_.clear();
  for (auto& p : held_) p.done(down);
  held_.clear();
  for (auto& [client, batch] : forwards_) {
    for (auto& p : batch) p.done(down);
  }
  forwards_.clear();
  for (auto& [id, batch] : reads_) {
    for (auto& rd : batch) rd.done(down, 0);
  }
  reads_.clear();
  for (auto& [slot, w] : waiters) w.done(down);
  for (auto& [deadline, done] : next_reads) done(down);
  // A ReadIndex call in flight calls back into this object: wait for it
  // (its deadline bounds the wait).
  {
    std::unique_lock lock(mu_);
    deferred_cv_.wait_for(lock, kReadIndexTimeout + std::chrono::seconds(1), [&] { return !read_index_in_flight_; });
  }
  // The driver is gone: nothing defers work any more; run what is left.
  {
    std::lock_guard lock(mu_);
    callbacks_done_ = true;
  }
  deferred_cv_.notify_all();
  if (callbacks_.joinable()) callbacks_.join();
}

void Replicator::Post(Input in) {
  const bool proposal = std::holds_alternative<Proposal>(in);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      inbox_.push_back(std::move(in));
      in = consensus::Message{};
    }
  }
  if (auto* p = std::get_if<Proposal>(&in)) return p->done(absl::UnavailableError("server is shutting down"));
  if (auto* rd = std::get_if<LeaderRead>(&in)) return rd->done(absl::UnavailableError("server is shutting down"), 0);
  // While a round of this leader is in flight, a new write would only be
  // held for the next round: the driver takes it when it wakes for the
  // round's acks (or the next tick), so spare it the wake-up.
  if (proposal && round_in_flight_.load(std::memory_order_relaxed)) return;
  cv_.notify_one();
}

void Replicator::Defer(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    deferred_.push_back(std::move(fn));
  }
  deferred_cv_.notify_one();
}

void Replicator::RunCallbacks() {
  std::vector<std::function<void()>> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      deferred_cv_.wait(lock, [&] { return callbacks_done_ || !deferred_.empty(); });
      if (deferred_.empty()) return;  // stopped and drained
      batch.swap(deferred_);
    }
    for (auto& fn : batch) fn();
    batch.clear();
  }
}

PeerClient* Replicator::Client(NodeId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------- API side

void Replicator::Submit(storage::pb::Command cmd, Callback done) {
  Post(Proposal{std::move(cmd), std::move(done), {}, false});
}

void Replicator::SubmitForwarded(storage::pb::Command cmd, std::function<void(peer::pb::ForwardReply)> done) {
  if (forward_check_) {
    if (auto denied = forward_check_(cmd)) {
      peer::pb::ForwardReply reply;
      *reply.mutable_result() = std::move(*denied);
      return done(std::move(reply));
    }
  }
  Post(Proposal{std::move(cmd),
                [done = std::move(done)](StatusOr<storage::pb::CommandResult> res) {
                  peer::pb::ForwardReply reply;
                  if (res.ok()) {
                    *reply.mutable_result() = std::move(*res);
                  } else {
                    reply.set_error(std::string(res.status().message()));
                    reply.set_unknown(absl::IsDeadlineExceeded(res.status()));
                  }
                  done(std::move(reply));
                },
                {},
                true});
}

void Replicator::ReadBarrier(Deadline deadline, std::function<void(Status)> done) {
  const int64_t now = Clock::now().time_since_epoch().count();
  if (fast_leader_.load() && now < lease_until_ns_.load()) return done(absl::OkStatus());
  if (fast_leader_.load()) {
    Post(LeaderRead{[this, deadline, done](Status s, Slot index) {
      if (!s.ok()) return done(s);
      WaitApplied(index, deadline, done);
    }});
    return;
  }
  if (leader_.load() == 0) {
    return done(absl::UnavailableError("no leader: the cluster is electing one or has no majority"));
  }
  bool send = false;
  {
    std::lock_guard lock(mu_);
    next_reads_.emplace_back(deadline, std::move(done));
    if (!read_index_in_flight_) send = read_index_in_flight_ = true;
  }
  if (send) FollowerReadIndex();
}

void Replicator::FollowerReadIndex() {
  std::vector<std::pair<Deadline, std::function<void(Status)>>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(next_reads_);
  }
  const NodeId leader = leader_.load();
  PeerClient* client = leader == 0 ? nullptr : Client(leader);
  auto finish = [this](std::vector<std::pair<Deadline, std::function<void(Status)>>> b, Status s, Slot index) {
    for (auto& [deadline, done] : b) {
      if (s.ok()) {
        WaitApplied(index, deadline, std::move(done));
      } else {
        done(s);
      }
    }
    bool again = false;
    {
      std::lock_guard lock(mu_);
      again = !next_reads_.empty() && !stopping_;
      if (!again) read_index_in_flight_ = false;
    }
    if (again) {
      FollowerReadIndex();
    } else {
      deferred_cv_.notify_all();  // Stop() may wait for this
    }
  };
  if (client == nullptr) {
    return finish(std::move(batch), absl::UnavailableError("no leader: the cluster is electing one or has no majority"),
                  0);
  }
  client->ReadIndex(kReadIndexTimeout, [finish, b = std::move(batch), addr = client->member().addr](
                                           grpc::Status st, const peer::pb::ReadIndexReply& reply) mutable {
    if (!st.ok()) {
      return finish(std::move(b), absl::UnavailableError("cannot reach the leader " + addr + ": " + st.error_message()),
                    0);
    }
    if (!reply.error().empty()) return finish(std::move(b), absl::UnavailableError(reply.error()), 0);
    finish(std::move(b), absl::OkStatus(), reply.index());
  });
}

void Replicator::WaitApplied(Slot index, Deadline deadline, std::function<void(Status)> done) {
  if (applied_.load() >= index) return done(absl::OkStatus());
  {
    std::lock_guard lock(mu_);
    if (applied_.load() < index && !stopping_) {
      waiters_.emplace(index, AppliedWaiter{index, deadline, std::move(done)});
      return;
    }
  }
  done(applied_.load() >= index ? absl::OkStatus() : absl::UnavailableError("server is shutting down"));
}

void Replicator::LeaderReadIndex(std::function<void(peer::pb::ReadIndexReply)> done) {
  const int64_t now = Clock::now().time_since_epoch().count();
  if (fast_leader_.load() && now < lease_until_ns_.load()) {
    // Under the lease every acknowledged write is applied here already.
    peer::pb::ReadIndexReply reply;
    reply.set_index(applied_.load());
    return done(std::move(reply));
  }
  Post(LeaderRead{[done = std::move(done)](Status s, Slot index) {
    peer::pb::ReadIndexReply reply;
    if (s.ok()) {
      reply.set_index(index);
    } else {
      reply.set_error(std::string(s.message()));
    }
    done(std::move(reply));
  }});
}

void Replicator::Receive(consensus::Message m) { Post(std::move(m)); }

void Replicator::SetSecrets(const Config& config) { identity_->SetKey(PeerKey(config)); }

void Replicator::NotePeerApplyRules(consensus::NodeId from, uint32_t rules) {
  auto it = peer_rules_.find(from);
  if (it == peer_rules_.end() || it->second->load(std::memory_order_relaxed) == rules) return;
  it->second->store(rules, std::memory_order_relaxed);
  spdlog::info("peer {} applies rules up to {}; this node proposes under rules {}", peers_.at(from)->member().addr,
               rules, ProposalRules());
}

uint32_t Replicator::ProposalRules() const {
  uint32_t rules = max_rules_;
  const uint32_t floor = rules_floor_.load(std::memory_order_relaxed);
  for (const auto& [id, r] : peer_rules_) {
    const uint32_t v = r->load(std::memory_order_relaxed);
    rules = std::min(rules, v == kUnheard ? floor : v);
  }
  return rules;
}

ReplicatorStatus Replicator::status() const {
  ReplicatorStatus s;
  {
    std::lock_guard lock(mu_);
    s = status_;
  }
  s.apply_rules = ProposalRules();
  for (const auto& [id, p] : peers_) {
    s.peers.push_back({p->member().addr, p->connected(), p->dropped()});
  }
  return s;
}

// ------------------------------------------------------------ driver thread

void Replicator::Run() {
  for (;;) {
    std::vector<Input> in;
    Clock::time_point wake;
    {
      std::lock_guard apply(apply_mu_);
      wake = origin_ + (ticks_ + 1) * tick_;
      if (!held_.empty()) wake = std::min(wake, held_since_ + kMaxBatchDelay);
    }
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, wake, [&] { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      in.swap(inbox_);
    }
    std::lock_guard apply(apply_mu_);
    if (installing_) {
      // Timers are paused and peer messages dropped while a snapshot
      // installs; writes still go to the leader.
      for (auto& i : in) {
        if (auto* p = std::get_if<Proposal>(&i)) Dispatch(std::move(*p));
        if (auto* rd = std::get_if<LeaderRead>(&i)) rd->done(absl::UnavailableError("not the leader"), 0);
      }
      origin_ = Clock::now() - ticks_ * tick_;
      if (installer_active_ && Clock::now() - last_chunk_at_ > kInstallStall) {
        spdlog::warn("snapshot install stalled (no chunk for {} s): aborting it",
                     std::chrono::duration_cast<std::chrono::seconds>(kInstallStall).count());
        AbortInstallLocked();
      }
      // Parked writes and reads waiting for apply still get their answer
      // when their time is up, not when the install ends.
      RetryParked();
      FlushForwards();
      continue;
    }
    // Ticks first: after a stall, a message that arrived meanwhile must not
    // be stepped at a logical time earlier than the real one (a follower
    // would then count its no-vote window from too early).
    const auto now = Clock::now();
    while (now >= origin_ + (ticks_ + 1) * tick_) {
      node_->Tick();
      ticks_++;
    }
    std::vector<LeaderRead> reads;
    for (auto& i : in) {
      if (auto* rd = std::get_if<LeaderRead>(&i)) {
        reads.push_back(std::move(*rd));
      } else {
        HandleInput(i);
      }
    }
    StartLeaderReads(std::move(reads));
    // Held writes whose round was just chosen go out with this iteration's
    // Ready; but a leader that is not precomputing yet dispatches them
    // after the Ready that applies that round, so that every slot before
    // them is applied and precomputation can start (Speculate): else, under
    // steady load, it would never find the log applied.
    if (spec_active_) FlushHeld(false);
    while (node_->HasReady()) HandleReady();
    FlushHeld(false);
    while (node_->HasReady()) HandleReady();
    RetryParked();
    FlushForwards();
    CompactIfNeeded();
    Publish();
  }
}

void Replicator::HandleInput(Input& in) {
  if (auto* m = std::get_if<consensus::Message>(&in)) return node_->Step(*m);
  if (auto* p = std::get_if<Proposal>(&in)) return Dispatch(std::move(*p));
}

void Replicator::StartLeaderReads(std::vector<LeaderRead> reads) {
  if (reads.empty()) return;
  // One read index (one heartbeat round without a lease) for all the reads
  // that arrived together.
  const uint64_t id = ++next_read_id_;
  if (!node_->LeaderReady() || !node_->Read(id)) {
    for (auto& rd : reads) rd.done(absl::UnavailableError("not the leader"), 0);
    return;
  }
  reads_[id] = std::move(reads);
}

void Replicator::Dispatch(Proposal p) {
  const NodeId self = identity_->self_id();
  if (node_->role() == consensus::Role::kLeader) {
    if (!p.held && !proposed_.empty() && proposed_.rbegin()->first > node_->commit()) {
      // A round is in flight: batch this write into the next one, which
      // starts when the round is chosen (or kMaxBatchDelay passed). Fewer,
      // larger rounds cost fewer fsyncs and messages on every node.
      if (held_.empty()) held_since_ = Clock::now();
      p.held = true;
      held_.push_back(std::move(p));
      if (held_.size() >= kMaxBatch) FlushHeld(true);
      return;
    }
    uint64_t id = 0;
    while (id == 0) id = proposal_ids_();  // 0 = no id
    p.cmd.set_proposal_id(id);
    // Rules every member can apply: a rolling upgrade switches to newer
    // rules only once the last member runs a version that knows them.
    p.cmd.set_apply_rules(ProposalRules());
    Speculate(p);
    p.data = std::make_shared<const std::string>(p.cmd.SerializeAsString());
    const Slot slot = node_->Propose(p.data);
    if (slot == 0) {
      EndSpeculation();
      return p.done(absl::UnavailableError("not the leader"));
    }
    proposed_.emplace(slot, std::move(p));
    return;
  }
  if (p.forwarded) {
    // No second hop: the follower that forwarded it answers its client.
    return p.done(absl::UnavailableError("this node is not the leader (any more); retry"));
  }
  const NodeId leader = node_->leader();
  PeerClient* client = leader != 0 && leader != self ? Client(leader) : nullptr;
  if (client == nullptr || !client->reachable() || p.bounced) {
    if (p.bounced) p.retry_after = Clock::now() + tick_;  // let this node learn of the new leader
    p.bounced = false;
    // No leader, or no connection to it (it died, restarts or is cut off): a
    // forward now would fail before reaching it, or worse, reach it with
    // an outcome we could not tell. Wait for an election or the
    // reconnection (RetryParked), up to park_limit_; then the write is
    // refused, certainly not applied.
    const auto now = Clock::now();
    if (p.parked_until == Deadline{}) p.parked_until = now + park_limit_;
    if (p.parked_until <= now) {
      return p.done(absl::UnavailableError(client == nullptr ? "no leader: the cluster is electing one or has "
                                                               "no majority; retry"
                                                             : "the leader " + client->member().addr +
                                                                   " is unreachable from this node; retry"));
    }
    parked_.push_back(std::move(p));
    return;
  }
  {
    std::lock_guard lock(mu_);
    status_.forwarded++;
  }
  if (p.parked_until == Deadline{}) p.parked_until = Clock::now() + park_limit_;
  // Sent by FlushForwards at the end of this driver iteration, together
  // with the other writes for the same leader.
  forwards_[client].push_back(std::move(p));
}

void Replicator::Speculate(Proposal& p) {
  // A bound on the speculative state's memory (each write adds a few
  // records): beyond it, plain commands until everything is applied.
  constexpr size_t kMaxSpeculativeWrites = 1 << 16;
  if (!spec_active_) {
    // The speculative state starts as the applied state, so only when
    // every slot before this proposal's is applied (then nothing chosen
    // later can come before it).
    if (!node_->LeaderReady() || node_->applied() + 1 != node_->next_slot()) return;
    spec_->Reset(sm_->apply_rules_floor());
    spec_head_ = chain_.head;
    spec_active_ = true;
    spdlog::debug("precomputing writes from slot {}", node_->next_slot());
  } else if (spec_->overlay_size() > kMaxSpeculativeWrites) {
    spdlog::debug("speculative state full: plain commands until everything is applied");
    EndSpeculation();
    return;
  }
  p.cmd.set_after_id(spec_head_);
  storage::pb::Precomputed pre;
  const uint64_t errors = spec_->storage_errors();
  storage::pb::CommandResult result = spec_->Precompute(p.cmd, &pre);
  if (spec_->storage_errors() != errors) {
    // A failed read may have left part of the command in the overlay:
    // start over from the applied state, and let the replicas compute this
    // one (they stop if their reads fail too).
    spdlog::warn("reading the store failed while precomputing a write; proposing it as a command");
    EndSpeculation();
    p.cmd.clear_after_id();
    return;
  }
  if (p.cmd.has_write() &&
      pre.ByteSizeLong() + p.cmd.ByteSizeLong() - p.cmd.write().ByteSizeLong() <= limits::kMaxCommandBytes) {
    // Every replica writes these mutations instead of computing them. (A
    // write whose mutations would not fit one log entry stays a command:
    // the replicas compute it, on the same state, as its after_id ensures.)
    p.result = std::move(result);
    p.cmd.clear_write();
    *p.cmd.mutable_precomputed() = std::move(pre);
  }
  // Any other command is computed by every replica (on the same state, as
  // its after_id ensures); the speculative state has its effects for the
  // proposals after it.
  spec_head_ = p.cmd.proposal_id();
}

void Replicator::EndSpeculation() {
  if (!spec_active_) return;
  spec_active_ = false;
  spec_->Reset(0);
}

Status Replicator::LoadApplyHead() {
  std::string v;
  Status s = store_->Get(storage::keys::ApplyHead(), &v);
  if (absl::IsNotFound(s)) {
    chain_.head = 0;
    return absl::OkStatus();
  }
  if (!s.ok()) return s;
  if (v.size() != 8) return absl::DataLossError("corrupt apply head record");
  chain_.head = storage::keys::GetBig64(v);
  return absl::OkStatus();
}

void Replicator::FlushForwards() {
  for (auto& [client, batch] : forwards_) {
    std::vector<Proposal> ps;
    ps.swap(batch);
    // At most kPeerBatchBytes of commands per call (a larger one alone), so
    // that every call fits the peer message limit.
    while (!ps.empty()) {
      size_t take = 0, bytes = 0;
      while (take < ps.size()) {
        const size_t size = ps[take].cmd.ByteSizeLong();
        if (take > 0 && bytes + size > limits::kPeerBatchBytes) break;
        bytes += size;
        take++;
      }
      std::vector<Proposal> group(std::make_move_iterator(ps.begin()), std::make_move_iterator(ps.begin() + take));
      ps.erase(ps.begin(), ps.begin() + take);
      ForwardGroup(client, std::move(group));
    }
  }
}

void Replicator::ForwardGroup(PeerClient* client, std::vector<Proposal> ps) {
  const std::string addr = client->member().addr;
  if (ps.size() == 1) {
    for (auto& p : ps) {
      {
        std::lock_guard lock(mu_);
        status_.forward_calls++;
      }
      const storage::pb::Command cmd = p.cmd;
      client->Forward(
          cmd, kForwardTimeout,
          [gate = forward_gate_, p = std::move(p), addr](grpc::Status st, const peer::pb::ForwardReply& reply) mutable {
            FinishForward(gate, std::move(p), addr, st, reply);
          });
    }
    return;
  }
  {
    std::lock_guard lock(mu_);
    status_.forward_calls++;
  }
  peer::pb::ForwardBatchRequest req;
  for (const auto& p : ps) *req.add_commands() = p.cmd;
  auto shared = std::make_shared<std::vector<Proposal>>(std::move(ps));
  client->ForwardBatch(std::move(req), kForwardTimeout,
                       [gate = forward_gate_, shared, addr](grpc::Status st, const peer::pb::ForwardBatchReply& reply) {
                         if (st.ok() && reply.replies_size() != static_cast<int>(shared->size())) {
                           st = grpc::Status(grpc::StatusCode::INTERNAL,
                                             "the leader answered " + std::to_string(reply.replies_size()) + " of " +
                                                 std::to_string(shared->size()) + " forwarded writes");
                         }
                         for (size_t i = 0; i < shared->size(); i++) {
                           FinishForward(gate, std::move((*shared)[i]), addr, st,
                                         st.ok() ? reply.replies(static_cast<int>(i)) : peer::pb::ForwardReply());
                         }
                       });
}

void Replicator::FinishForward(const std::shared_ptr<ForwardGate>& gate, Proposal p, const std::string& addr,
                               const grpc::Status& st, const peer::pb::ForwardReply& reply) {
  if (!st.ok()) {
    return p.done(absl::DeadlineExceededError("forwarding the write to the leader " + addr + " failed (" +
                                              st.error_message() + "); its outcome is unknown"));
  }
  if (reply.error().empty()) return p.done(reply.result());
  if (reply.unknown()) return p.done(absl::DeadlineExceededError(reply.error()));
  // Certainly not applied (that node no longer leads): try the leader this
  // node learns of next, within the same time limit as a parked write.
  if (Clock::now() < p.parked_until) {
    std::unique_lock lock(gate->mu);
    if (gate->r != nullptr) {
      p.bounced = true;
      return gate->r->Post(std::move(p));
    }
  }
  p.done(absl::UnavailableError(reply.error()));
}

void Replicator::FlushHeld(bool force) {
  if (held_.empty()) return;
  const bool round_chosen = proposed_.empty() || proposed_.rbegin()->first <= node_->commit();
  if (!force && !round_chosen && Clock::now() - held_since_ < kMaxBatchDelay) return;
  std::vector<Proposal> held;
  held.swap(held_);
  for (auto& p : held) Dispatch(std::move(p));
}

void Replicator::RetryParked() {
  const auto now = Clock::now();
  // Reads waiting for apply that ran out of time.
  std::vector<std::function<void(Status)>> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : expired) {
    Defer([d = std::move(d)] {
      d(
          absl::DeadlineExceededError("timed out waiting for this node to apply "
                                      "the cluster's latest writes"));
    });
  }
  if (parked_.empty()) return;
  // Dispatch parks them again, or refuses them once parked_until passed.
  std::vector<Proposal> parked;
  parked.swap(parked_);
  for (auto& p : parked) {
    if (p.retry_after > now && p.parked_until > now) {
      parked_.push_back(std::move(p));
    } else {
      Dispatch(std::move(p));
    }
  }
}

void Replicator::HandleReady() {
  // The order is consensus::ProcessReady's, the one the simulator proves;
  // the core makes it safe (consensus/paxos.h, Ready).
  struct Steps : consensus::ReadyHandler {
    explicit Steps(Replicator* r) : r(r) {}
    bool Send(consensus::Ready& rd) override {
      r->SendMessages(rd);
      return true;
    }
    bool Apply(consensus::Ready& rd) override {
      r->ApplyCommitted(rd);
      return true;
    }
    bool Persist(consensus::Ready& rd) override {
      r->PersistAcceptorState(rd);
      return true;
    }
    bool Snapshot(consensus::Ready& rd) override {
      for (NodeId peer : rd.snapshots) r->StartSnapshot(peer);
      return true;
    }
    Replicator* r;
  } steps(this);
  consensus::ProcessReady(*node_, steps);
  if (node_->role() != consensus::Role::kLeader) EndSpeculation();
  // A leader that lost its role: reads it was confirming will not come.
  if (node_->role() != consensus::Role::kLeader && !reads_.empty()) {
    for (auto& [id, batch] : reads_) {
      for (auto& r : batch) r.done(absl::UnavailableError("leadership changed; retry"), 0);
    }
    reads_.clear();
  }
}

void Replicator::PersistAcceptorState(const consensus::Ready& rd) {
  if (!rd.hard_state && rd.entries.empty()) return;
  KVGO_FAILPOINT("paxos.persist.before");
  const auto t0 = Clock::now();
  Status s = log_->Persist(rd.hard_state, rd.entries);
  if (!s.ok()) {
    // The acceptor's promise to its peers depends on this write: never
    // carry on after a failed one (docs/replication.md).
    spdlog::critical("writing the Paxos log failed: {}; stopping the process", std::string(s.message()));
    std::abort();
  }
  if (observer_) observer_(rd.entries.size(), std::chrono::duration<double>(Clock::now() - t0).count());
  KVGO_FAILPOINT("paxos.persist.after");
}

void Replicator::SendMessages(consensus::Ready& rd) {
  for (auto& m : rd.messages) {
    if (PeerClient* c = Client(m.to)) c->Send(std::move(m));
  }
  rd.messages.clear();
}

void Replicator::ApplyCommitted(const consensus::Ready& rd) {
  leveldb::WriteBatch batch;
  std::vector<std::pair<Callback, StatusOr<storage::pb::CommandResult>>> answers;
  const uint64_t head_before = chain_.head;
  uint64_t skipped = 0;
  if (!rd.committed.empty()) KVGO_FAILPOINT("apply.before");
  for (const auto& e : rd.committed) {
    kept_.emplace_back(e.slot, e.value().size());
    kept_bytes_ += e.value().size();
    auto mine = proposed_.find(e.slot);
    StatusOr<storage::pb::CommandResult> result = absl::UnavailableError(
        "another leader's value was chosen for this "
        "write's slot; the write was not applied");
    if (!e.noop) {
      // This node's own proposal, as proposed (no need to decode it).
      const bool own = mine != proposed_.end() && mine->second.data != nullptr && e.data == mine->second.data;
      storage::pb::Command decoded;
      storage::pb::Command* cmd = own ? &mine->second.cmd : &decoded;
      if (own || decoded.ParseFromString(e.value())) {
        if (cmd->apply_rules() > max_rules_) {
          // Proposed while every member could apply it, so this node was
          // downgraded since: applying under other rules would make its
          // state differ from the others' for good. Exit 2: a restart of the
          // same binary cannot help (the unit's RestartPreventExitStatus
          // keeps systemd from trying).
          spdlog::critical(
              "slot {} was proposed under apply rules {}, and this version applies rules up to {}: run the "
              "newer version on this node (or wipe its data directory to get a snapshot); stopping the process",
              e.slot, cmd->apply_rules(), max_rules_);
          spdlog::default_logger()->flush();
          std::_Exit(2);
        }
        const bool is_mine = mine != proposed_.end() && mine->second.cmd.proposal_id() == cmd->proposal_id();
        if (!chain_.Admit(cmd->after_id(), cmd->proposal_id())) {
          // Computed after an entry that is not the one applied last here:
          // a leader change cut its chain (docs/replication.md). Every
          // replica skips it alike.
          skipped++;
          if (is_mine) {
            result =
                absl::UnavailableError("leadership changed while the write was in flight; it was not applied; retry");
          }
          if (own) EndSpeculation();
        } else {
          StatusOr<storage::pb::CommandResult> res;
          if (cmd->has_precomputed()) {
            sm_->ApplyPrecomputed(cmd, &batch);
            if (is_mine) {
              // (Speculate sets both or neither.) Never "not applied": a
              // forwarding follower would retry a write that was applied.
              res = mine->second.result ? *mine->second.result
                                        : StatusOr<storage::pb::CommandResult>(absl::DeadlineExceededError(
                                              "the write was applied but its results are lost; its outcome is "
                                              "unknown"));
            }
          } else {
            const uint64_t errors = sm_->storage_errors();
            res = sm_->Apply(*cmd, &batch);
            if (sm_->storage_errors() != errors) {
              // The other replicas applied this command; skipping its effects
              // here would make this node's state differ from theirs for good.
              spdlog::critical(
                  "reading the store failed while applying slot {}: {}; stopping "
                  "the process",
                  e.slot, res->results_size() > 0 ? res->results(0).message() : "");
              std::abort();
            }
          }
          if (is_mine) result = std::move(res);
        }
      } else {
        spdlog::error("slot {} holds an undecodable command; skipped", e.slot);
      }
    }
    if (mine != proposed_.end()) {
      answers.emplace_back(std::move(mine->second.done), std::move(result));
      proposed_.erase(mine);
    }
  }
  if (chain_.head != head_before) {
    std::string v;
    storage::keys::PutBig64(&v, chain_.head);
    batch.Put(storage::keys::ApplyHead(), v);
  }
  if (skipped > 0) {
    spdlog::info("skipped {} entries computed after an entry a leader change replaced", skipped);
    std::lock_guard lock(mu_);
    status_.entries_skipped += skipped;
  }
  if (!rd.committed.empty()) {
    PaxosLogStore::PutApplied(rd.committed.back().slot, &batch);
    // Applied entries are not synced: they are chosen, hence on a
    // majority's disks and in this node's WAL, and LevelDB's writes reach
    // the disk in order (storage/env.h), so a power loss can only take a
    // suffix of them, with the applied slot that goes with them; the
    // restarted node applies them again from its log. (Log compaction
    // syncs the KV store first, so no entry is dropped before its effects
    // are durable.)
    if (Status s = store_->Write(&batch); !s.ok()) {
      // The other replicas applied these entries; carrying on without
      // their effects would make this node's state differ for good.
      spdlog::critical("writing applied data failed: {}; stopping the process", std::string(s.message()));
      std::abort();
    }
    storage::StateMachine::Effects effects = sm_->Commit();
    rules_floor_.store(effects.apply_rules_floor, std::memory_order_relaxed);
    if (listener_) listener_(effects);
    applied_ = rd.committed.back().slot;
    KVGO_FAILPOINT("apply.after");
  }
  for (auto& [done, res] : answers) done(std::move(res));
  for (Slot s : rd.unknown) {
    auto it = proposed_.find(s);
    if (it == proposed_.end()) continue;
    it->second.done(
        absl::DeadlineExceededError("leadership changed before the write was "
                                    "chosen; its outcome is unknown"));
    proposed_.erase(it);
  }
  if (spec_active_ && proposed_.empty()) {
    // Everything this leader proposed is applied: the store is the
    // speculative state, so its overlay can go (this bounds its memory).
    if (spec_head_ == chain_.head) {
      spec_->Reset(sm_->apply_rules_floor());
    } else {
      EndSpeculation();
    }
  }
  for (const auto& r : rd.reads) {
    auto it = reads_.find(r.id);
    if (it == reads_.end()) continue;
    // Off the driver thread: the continuation may run the query itself.
    Defer([batch = std::move(it->second), index = r.index]() mutable {
      for (auto& one : batch) one.done(absl::OkStatus(), index);
    });
    reads_.erase(it);
  }
  // Reads waiting for this node to apply.
  std::vector<std::function<void(Status)>> ready;
  {
    std::lock_guard lock(mu_);
    const Slot applied = applied_.load();
    while (!waiters_.empty() && waiters_.begin()->first <= applied) {
      ready.push_back(std::move(waiters_.begin()->second.done));
      waiters_.erase(waiters_.begin());
    }
  }
  if (!ready.empty()) {
    Defer([ready = std::move(ready)]() mutable {
      for (auto& d : ready) d(absl::OkStatus());
    });
  }
}

void Replicator::ResetKept(const consensus::Restored& restored) {
  kept_.clear();
  kept_bytes_ = 0;
  for (const auto& [slot, e] : restored.entries) {
    if (slot <= restored.compacted || slot > restored.applied) continue;
    kept_.emplace_back(slot, e.value().size());
    kept_bytes_ += e.value().size();
  }
}

void Replicator::CompactIfNeeded() {
  const Slot keep = static_cast<Slot>(config_.log_keep_entries);
  const Slot applied = node_->applied();
  const Slot compacted = node_->compacted();
  Slot upto = 0;
  if (applied > compacted + keep + keep / 4) upto = applied - keep;
  if (kept_bytes_ > kLogKeepBytes) {
    // Down to half the bound, so that this does not run on every entry.
    size_t bytes = kept_bytes_;
    for (const auto& [slot, size] : kept_) {
      if (bytes <= kLogKeepBytes / 2) break;
      bytes -= size;
      upto = std::max(upto, slot);
    }
  }
  // A peer being sent a snapshot catches up from the snapshot's slot on:
  // those entries stay (else it would need another snapshot when this one
  // is in), unless they grow four times past the byte bound.
  for (const auto& [peer, flag] : sending_) {
    if (!flag || !flag->load()) continue;
    const Slot from = snapshot_slot_[peer];
    if (upto > from && kept_bytes_ <= 4 * kLogKeepBytes) upto = from;
  }
  if (upto <= compacted) return;
  // Compact syncs the KV store first (making every applied write before
  // it durable), so entries up to the applied slot may go.
  if (Status s = log_->Compact(upto); !s.ok()) {
    spdlog::warn("compacting the Paxos log failed (will retry): {}", std::string(s.message()));
    return;
  }
  node_->Compact(upto);
  DropKeptThrough(upto);
  spdlog::debug("Paxos log compacted up to slot {}", upto);
}

void Replicator::DropKeptThrough(Slot upto) {
  while (!kept_.empty() && kept_.front().first <= upto) {
    kept_bytes_ -= kept_.front().second;
    kept_.pop_front();
  }
}

void Replicator::Publish() {
  const bool leader = node_->role() == consensus::Role::kLeader;
  round_in_flight_ = leader && !proposed_.empty() && proposed_.rbegin()->first > node_->commit();
  const NodeId leader_id = leader ? identity_->self_id() : node_->leader();
  const bool ready = node_->LeaderReady();
  int64_t lease = 0;
  if (ready && node_->applied() >= node_->commit() && node_->lease_until_tick() > node_->now_tick()) {
    lease = (origin_ + node_->lease_until_tick() * tick_).time_since_epoch().count();
  }
  fast_leader_ = ready;
  lease_until_ns_ = lease;
  if (leader_id != last_leader_) {
    std::string addr = "none";
    for (const auto& m : config_.masters) {
      if (NodeIdOf(m.addr) == leader_id) addr = m.addr;
    }
    spdlog::info("leader is now {} (ballot round {})", addr, node_->promised().round);
    last_leader_ = leader_id;
    std::lock_guard lock(mu_);
    status_.leader_changes++;
    status_.leader_addr = leader_id == 0 ? "" : addr;
  }
  leader_ = leader_id;
  std::lock_guard lock(mu_);
  status_.role = node_->role();
  status_.leader = leader_id;
  status_.ballot_round = node_->promised().round;
  status_.commit = node_->commit();
  status_.applied = node_->applied();
  status_.compacted = node_->compacted();
  status_.wal_bytes = log_->wal_bytes();
}

// ---------------------------------------------------------------- snapshots

void Replicator::StartSnapshot(NodeId peer) {
  PeerClient* client = Client(peer);
  if (client == nullptr) return;
  auto& flag = sending_[peer];
  if (flag && flag->load()) return;  // one at a time per peer
  if (auto it = senders_.find(peer); it != senders_.end() && it->second.joinable()) it->second.join();
  flag = std::make_shared<std::atomic<bool>>(true);
  const leveldb::Snapshot* snap = store_->db()->GetSnapshot();
  const Slot slot = node_->applied();
  const consensus::Ballot ballot = node_->promised();  // a leader's own ballot
  snapshot_slot_[peer] = slot;
  spdlog::info("peer {} is behind the kept log: sending it a snapshot at slot {}", client->member().addr, slot);
  senders_[peer] = std::thread([this, client, snap, slot, ballot, flag] {
    pthread_setname_np(pthread_self(), "kvgo-snap-send");
    SendSnapshot(client, snap, slot, ballot);
    store_->db()->ReleaseSnapshot(snap);
    flag->store(false);
  });
}

void Replicator::SendSnapshot(PeerClient* client, const leveldb::Snapshot* snap, Slot slot, consensus::Ballot ballot) {
  grpc::ClientContext ctx;
  identity_->Sign(&ctx, "InstallSnapshot");
  // Twice the time the data takes at the rate limit, plus a minute: a
  // stalled receiver does not hold this stream (and the next snapshot to
  // that peer) forever.
  const double estimate = static_cast<double>(store_->ApproximateSize("", std::string(1, '\xff'))) /
                          (static_cast<double>(config_.snapshot_rate_mib) * (1 << 20));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60 + static_cast<int64_t>(2 * estimate)));
  peer::pb::SnapshotReply reply;
  auto writer = client->stub()->InstallSnapshot(&ctx, &reply);
  const double rate = static_cast<double>(config_.snapshot_rate_mib) * (1 << 20);
  const auto start = Clock::now();
  uint64_t sent = 0, keys = 0;
  bool ok = true;
  auto it = store_->NewIterator(snap);
  peer::pb::SnapshotChunk chunk;
  size_t chunk_bytes = 0;
  auto flush = [&](bool last) {
    chunk.set_slot(slot);
    chunk.set_from(identity_->self_id());
    chunk.mutable_ballot()->set_round(ballot.round);
    chunk.mutable_ballot()->set_node(ballot.node);
    chunk.set_last(last);
    KVGO_FAILPOINT("snapshot.send");
    ok = ok && writer->Write(chunk);
    sent += chunk_bytes;
    chunk.Clear();
    chunk_bytes = 0;
    // Throttle: never ahead of `rate` bytes per second.
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(sent) / rate));
    while (ok && !stop_flag_.load() && Clock::now() < due) {
      std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(50)));
    }
  };
  for (it->SeekToFirst(); ok && it->Valid() && !stop_flag_.load(); it->Next()) {
    const leveldb::Slice k = it->key();
    if (!k.empty() && k[0] == kPaxosSpace) continue;
    if (chunk_bytes > 0 && chunk_bytes + k.size() + it->value().size() > kSnapshotChunkBytes) flush(false);
    if (!ok) break;
    auto* kv = chunk.add_pairs();
    kv->set_key(k.data(), k.size());
    kv->set_value(it->value().data(), it->value().size());
    chunk_bytes += k.size() + it->value().size();
    keys++;
  }
  if (stop_flag_.load()) {
    ctx.TryCancel();
  } else if (ok) {
    flush(true);
  }
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (st.ok() && reply.error().empty() && ok) {
    spdlog::info("snapshot at slot {} sent to {}: {} keys, {} bytes in {:.1f} s", slot, client->member().addr, keys,
                 sent, secs);
    std::lock_guard lock(mu_);
    status_.snapshots_sent++;
  } else {
    spdlog::warn("snapshot to {} failed: {}", client->member().addr,
                 !st.ok()                ? st.error_message()
                 : reply.error().empty() ? "stream broken"
                                         : reply.error());
  }
}

StatusOr<uint64_t> Replicator::BeginInstall(Slot slot, NodeId from, consensus::Ballot ballot) {
  std::lock_guard apply(apply_mu_);
  if (node_->role() == consensus::Role::kLeader) {
    return absl::FailedPreconditionError("this node is the leader; it takes no snapshot");
  }
  // A snapshot replaces this node's whole state: only from the leader it
  // follows now, as that leader (a deposed one's may be stale).
  if (node_->role() != consensus::Role::kFollower || node_->leader() != from || node_->promised() != ballot) {
    return absl::FailedPreconditionError("the sender is not the leader this node follows (in ballot " +
                                         node_->promised().ToString() + ")");
  }
  if (slot <= node_->applied()) {
    return absl::FailedPreconditionError("not needed: this node applied slot " + std::to_string(node_->applied()) +
                                         " already");
  }
  if (installer_active_) return absl::FailedPreconditionError("another snapshot is installing");
  leveldb::WriteBatch marker;
  PaxosLogStore::PutInstalling(&marker);
  if (Status s = store_->WriteSync(&marker); !s.ok()) return s;
  installing_ = true;
  installer_active_ = true;
  install_slot_ = slot;
  install_from_ = from;
  install_last_key_.clear();
  install_started_ = last_chunk_at_ = Clock::now();
  spdlog::info("installing a snapshot at slot {} (this node applied {})", slot, node_->applied());
  return ++install_gen_;
}

Status Replicator::InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk) {
  // Under apply_mu_ throughout: the driver is paused anyway, and its
  // watchdog may abort a stalled install.
  std::lock_guard apply(apply_mu_);
  if (generation != install_gen_ || !installer_active_) {
    return absl::AbortedError("this snapshot install was aborted");
  }
  if (chunk.slot() != install_slot_) return absl::InvalidArgumentError("snapshot slot changed mid-stream");
  KVGO_FAILPOINT("snapshot.install");
  leveldb::WriteBatch batch;
  // Replace this node's KV keys in (last key, this chunk's last key] by the
  // chunk's; at the end, drop what lies beyond the snapshot's last key.
  std::string upto;
  for (const auto& kv : chunk.pairs()) {
    if (!kv.key().empty() && kv.key()[0] == kPaxosSpace) {
      return absl::InvalidArgumentError("snapshot holds a Paxos log key");
    }
    if (!upto.empty() && kv.key() <= upto) return absl::InvalidArgumentError("snapshot keys out of order");
    if (kv.key() <= install_last_key_ && !install_last_key_.empty()) {
      return absl::InvalidArgumentError("snapshot keys out of order");
    }
    upto = kv.key();
  }
  auto it = store_->NewIterator();
  if (install_last_key_.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(install_last_key_);
    if (it->Valid() && it->key().ToString() == install_last_key_) it->Next();
  }
  const bool to_end = chunk.last();
  for (; it->Valid(); it->Next()) {
    const std::string k = it->key().ToString();
    if (!to_end && k > upto) break;
    if (!PaxosLogStore::IsLogKey(k)) batch.Delete(k);
  }
  for (const auto& kv : chunk.pairs()) batch.Put(kv.key(), kv.value());
  if (!upto.empty()) install_last_key_ = upto;
  if (!chunk.last()) {
    // Synced: the final batch must never survive a power loss without the
    // chunks before it.
    last_chunk_at_ = Clock::now();
    return store_->WriteSync(&batch);
  }
  {
    PaxosLogStore::PutApplied(install_slot_, &batch);
    PaxosLogStore::PutCompacted(install_slot_, &batch);
    PaxosLogStore::ClearInstalling(&batch);
    if (Status s = store_->WriteSync(&batch); !s.ok()) return s;
    if (Status s = log_->DropThrough(install_slot_); !s.ok()) {
      spdlog::warn("cannot delete old Paxos WAL segments (retried at the next compaction): {}",
                   std::string(s.message()));
    }
    auto effects = sm_->LoadEffects();
    if (!effects.ok()) return effects.status();
    if (Status s = LoadApplyHead(); !s.ok()) return s;
    rules_floor_.store(effects->apply_rules_floor, std::memory_order_relaxed);
    if (listener_) listener_(*effects);
    applied_ = install_slot_;
    DropKeptThrough(install_slot_);
    node_->SnapshotInstalled(install_slot_, install_from_);
    installer_active_ = false;
    installing_ = false;
    std::lock_guard lock(mu_);
    status_.snapshots_received++;
  }
  cv_.notify_one();
  spdlog::info("snapshot at slot {} installed in {:.1f} s", install_slot_,
               std::chrono::duration<double>(Clock::now() - install_started_).count());
  return absl::OkStatus();
}

void Replicator::AbortInstall(uint64_t generation) {
  std::lock_guard apply(apply_mu_);
  if (generation != install_gen_ || !installer_active_) return;
  AbortInstallLocked();
}

void Replicator::AbortInstallLocked() {
  installer_active_ = false;
  install_gen_++;
  // The KV data is partly replaced: start over as a new node (keeping the
  // promise), as a restart would (PaxosLogStore::Load).
  spdlog::warn(
      "snapshot install aborted: resetting this node's data; the "
      "leader will send a new snapshot");
  Status s = log_->WipeData();
  if (s.ok()) s = storage::StateMachine::Open(store_).status();
  if (!s.ok()) {
    spdlog::critical(
        "cannot reset the data after an aborted snapshot: {}; "
        "stopping the process",
        std::string(s.message()));
    std::abort();
  }
  auto restored = log_->Load();
  if (!restored.ok()) {
    spdlog::critical("cannot reload the Paxos log: {}; stopping the process", std::string(restored.status().message()));
    std::abort();
  }
  consensus::Config cc = node_config_;
  ResetKept(*restored);
  node_ = std::make_unique<consensus::Node>(cc, std::move(*restored));
  origin_ = Clock::now();
  ticks_ = 0;
  proposed_.clear();  // a new node: (there were none: a follower proposes nothing)
  applied_ = 0;
  chain_.head = 0;  // the data is wiped
  if (auto effects = sm_->LoadEffects(); effects.ok()) {
    rules_floor_.store(effects->apply_rules_floor, std::memory_order_relaxed);
    if (listener_) listener_(*effects);
  }
  installing_ = false;
}

}  // namespace kvgo::replication
