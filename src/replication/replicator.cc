#include "replication/replicator.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "common/clock.h"

namespace kvgo::replication {

namespace {

std::vector<Member> MembersOf(const Config& config) {
  std::vector<Member> out;
  for (const auto& m : config.masters) out.push_back({NodeIdOf(m.addr), m.addr});
  return out;
}

// The newest apply rules this binary applies; the failpoint build reads
// $KVGO_MAX_APPLY_RULES to play an older version.
uint32_t MaxApplyRules() {
  uint32_t rules = storage::kApplyRules;
#ifdef KVGO_FAILPOINTS
  if (const char* v = getenv("KVGO_MAX_APPLY_RULES"); v != nullptr && *v != 0) {
    rules = std::min<uint32_t>(rules, static_cast<uint32_t>(std::strtoul(v, nullptr, 10)));
    spdlog::warn("KVGO_MAX_APPLY_RULES: applying as a version that knows apply rules up to {}", rules);
  }
#endif
  return rules;
}

}  // namespace

StatusOr<std::unique_ptr<Replicator>> Replicator::Start(const Config& config, storage::Store* store,
                                                        storage::StateMachine* sm, std::unique_ptr<PaxosLogStore> log,
                                                        consensus::Restored restored, EffectsListener listener,
                                                        GroupObserver observer) {
  std::unique_ptr<Replicator> r(new Replicator());
  {
    absl::MutexLock lock(&r->gate_->mu);
    r->gate_->r = r.get();
  }
  r->config_ = config;
  r->log_ = std::move(log);

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
  std::vector<Member> peers;
  std::vector<consensus::NodeId> peer_ids;
  for (const auto& m : members) {
    if (m.id == me.id) continue;
    peers.push_back(m);
    peer_ids.push_back(m.id);
  }
  r->rules_ = std::make_unique<ApplyRules>(MaxApplyRules(), peer_ids);
  r->transport_ =
      std::make_unique<GrpcTransport>(peers, r->identity_.get(), PeerCredentials(config.tls), r->rules_->max());
  r->snapshots_ =
      std::make_unique<GrpcSnapshotSender>(store, r->transport_.get(), r->identity_.get(), config.snapshot_rate_mib);
  Replicator* raw = r.get();
  ReadBarriers::Hooks hooks;
  hooks.leader = [raw] { return raw->leader_.load(); };
  hooks.leader_ready = [raw] { return raw->fast_leader_.load(); };
  hooks.under_lease = [raw] { return raw->UnderLease(); };
  hooks.post = [raw](LeaderRead rd) { raw->Post(std::move(rd)); };
  hooks.defer = [raw](std::function<void()> fn) { raw->Defer(std::move(fn)); };
  r->barriers_ = std::make_unique<ReadBarriers>(r->transport_.get(), std::move(hooks));

  Replica::Options options;
  options.node.id = me.id;
  for (const auto& m : members) options.node.members.push_back(m.id);
  options.node.cluster_id = cluster_id;
  options.node.heartbeat_ticks = 1;
  options.node.election_ticks = std::max(3, config.election_timeout_ms / config.heartbeat_ms);
  options.node.lease_margin_ticks = std::max(1, options.node.election_ticks / 5);
  options.node.seed = std::random_device{}() ^ (uint64_t{me.id} << 32);
  options.self_addr = me.addr;
  options.tick = std::chrono::milliseconds(config.heartbeat_ms);
  options.park_limit = std::chrono::milliseconds(2 * config.election_timeout_ms + 1000);
  options.log_keep_entries = config.log_keep_entries;
  options.proposal_seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  Replica::Env env;
  env.transport = r->transport_.get();
  env.snapshots = r->snapshots_.get();
  env.log = r->log_.get();
  env.store = store;
  env.sm = sm;
  env.rules = r->rules_.get();
  env.clock = SystemClock();
  env.defer = [raw](std::function<void()> fn) { raw->Defer(std::move(fn)); };
  env.repost = [gate = r->gate_](Proposal p) {
    {
      absl::MutexLock lock(&gate->mu);
      if (gate->r != nullptr) return gate->r->Post(std::move(p));
    }
    p.done(absl::UnavailableError("server is shutting down"));
  };
  env.applied = [raw](consensus::Slot slot) { raw->barriers_->SetApplied(slot); };
  env.listener = std::move(listener);
  env.observer = std::move(observer);
  spdlog::info("cluster mode: node {} ({}) of {} masters, cluster id {:016x}; applied slot {}, {} log entries", me.id,
               me.addr, members.size(), cluster_id, restored.applied, restored.entries.size());
  auto replica = Replica::Open(std::move(options), std::move(env), std::move(restored));
  if (!replica.ok()) return replica.status();
  {
    absl::MutexLock apply(&r->apply_mu_);
    r->replica_ = std::move(*replica);
    r->Publish();
  }
  r->driver_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "kvgo-paxos");
    raw->Run();
  });
  r->callbacks_ = std::thread([raw] {
    pthread_setname_np(pthread_self(), "kvgo-paxos-cb");
    raw->RunCallbacks();
  });
  return r;
}

Replicator::~Replicator() { Stop(); }

void Replicator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  {
    absl::MutexLock lock(&gate_->mu);
    gate_->r = nullptr;
  }
  cv_.SignalAll();
  if (driver_.joinable()) driver_.join();
  if (snapshots_) snapshots_->Stop();
  if (transport_) transport_->Stop();
  // Everything still pending fails: the outcome of proposals is unknown.
  const Status down = absl::UnavailableError("server is shutting down");
  std::vector<Input> inbox;
  {
    absl::MutexLock lock(&mu_);
    inbox.swap(inbox_);
  }
  for (auto& in : inbox) {
    if (auto* p = std::get_if<Proposal>(&in)) p->done(down);
    if (auto* rd = std::get_if<LeaderRead>(&in)) rd->done(down, 0);
  }
  {
    absl::MutexLock apply(&apply_mu_);
    if (replica_) replica_->FailAll();
  }
  if (barriers_) barriers_->Stop();
  // The driver is gone: nothing defers work any more; run what is left.
  {
    absl::MutexLock lock(&mu_);
    callbacks_done_ = true;
  }
  deferred_cv_.SignalAll();
  if (callbacks_.joinable()) callbacks_.join();
}

void Replicator::Post(Input in) {
  const bool proposal = std::holds_alternative<Proposal>(in);
  {
    absl::MutexLock lock(&mu_);
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
  cv_.Signal();
}

void Replicator::Defer(std::function<void()> fn) {
  {
    absl::MutexLock lock(&mu_);
    deferred_.push_back(std::move(fn));
  }
  deferred_cv_.Signal();
}

void Replicator::RunCallbacks() {
  std::vector<std::function<void()>> batch;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      while (!callbacks_done_ && deferred_.empty()) deferred_cv_.Wait(&mu_);
      if (deferred_.empty()) return;  // stopped and drained
      batch.swap(deferred_);
    }
    for (auto& fn : batch) fn();
    batch.clear();
  }
}

void Replicator::Run() {
  for (;;) {
    std::vector<Input> in;
    std::chrono::steady_clock::time_point wake;
    {
      absl::MutexLock apply(&apply_mu_);
      wake = replica_->NextWake();
    }
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + absl::FromChrono(wake - std::chrono::steady_clock::now());
      while (!stopping_ && inbox_.empty() && !cv_.WaitWithDeadline(&mu_, until)) {
      }
      if (stopping_) return;
      in.swap(inbox_);
    }
    absl::MutexLock apply(&apply_mu_);
    replica_->Handle(in);
    // Reads waiting for apply get their answer when their time is up.
    barriers_->Expire(SystemClock()->SteadyNow());
    Publish();
  }
}

void Replicator::Publish() {
  const ReplicaView v = replica_->view();
  round_in_flight_ = v.round_in_flight;
  fast_leader_ = v.leader_ready;
  lease_until_ns_ =
      v.lease_until == std::chrono::steady_clock::time_point{} ? 0 : v.lease_until.time_since_epoch().count();
  leader_ = v.leader;
  barriers_->SetApplied(v.applied);
  absl::MutexLock lock(&mu_);
  view_ = v;
}

bool Replicator::UnderLease() const {
  return fast_leader_.load() && SystemClock()->SteadyNow().time_since_epoch().count() < lease_until_ns_.load();
}

// ---------------------------------------------------------------- API side

void Replicator::Submit(storage::pb::Command cmd, Callback done) {
  Proposal p;
  p.cmd = std::move(cmd);
  p.done = std::move(done);
  Post(std::move(p));
}

void Replicator::SubmitForwarded(storage::pb::Command cmd, std::function<void(peer::pb::ForwardReply)> done) {
  if (forward_check_) {
    if (auto denied = forward_check_(cmd)) {
      peer::pb::ForwardReply reply;
      *reply.mutable_result() = std::move(*denied);
      return done(std::move(reply));
    }
  }
  Proposal p;
  p.cmd = std::move(cmd);
  p.forwarded = true;
  p.done = [done = std::move(done)](StatusOr<storage::pb::CommandResult> res) {
    peer::pb::ForwardReply reply;
    if (res.ok()) {
      *reply.mutable_result() = std::move(*res);
    } else {
      reply.set_error(std::string(res.status().message()));
      reply.set_unknown(absl::IsDeadlineExceeded(res.status()));
    }
    done(std::move(reply));
  };
  Post(std::move(p));
}

void Replicator::ReadBarrier(Deadline deadline, std::function<void(Status)> done) {
  barriers_->Read(deadline, std::move(done));
}

void Replicator::LeaderReadIndex(std::function<void(peer::pb::ReadIndexReply)> done) {
  barriers_->LeaderIndex([done = std::move(done)](Status s, consensus::Slot index) {
    peer::pb::ReadIndexReply reply;
    if (s.ok()) {
      reply.set_index(index);
    } else {
      reply.set_error(std::string(s.message()));
    }
    done(std::move(reply));
  });
}

void Replicator::Receive(consensus::Message m) { Post(std::move(m)); }

void Replicator::SetSecrets(const Config& config) { identity_->SetKey(PeerKey(config)); }

void Replicator::NotePeerApplyRules(consensus::NodeId from, uint32_t rules) {
  if (!rules_->NotePeer(from, rules)) return;
  spdlog::info("peer {} applies rules up to {}; this node proposes under rules {}", transport_->Addr(from), rules,
               rules_->ForProposal());
}

ReplicatorStatus Replicator::status() const {
  ReplicatorStatus s;
  ReplicaView v;
  {
    absl::MutexLock lock(&mu_);
    v = view_;
  }
  s.id = identity_->self_id();
  s.role = v.role;
  s.leader = v.leader;
  s.leader_addr = v.leader_addr;
  s.ballot_round = v.ballot_round;
  s.commit = v.commit;
  s.applied = v.applied;
  s.compacted = v.compacted;
  s.wal_bytes = v.log_bytes;
  s.forwarded = v.forwarded;
  s.forward_calls = v.forward_calls;
  s.snapshots_sent = snapshots_->sent();
  s.snapshots_received = v.snapshots_received;
  s.leader_changes = v.leader_changes;
  s.entries_skipped = v.entries_skipped;
  s.apply_rules = rules_->ForProposal();
  for (const auto& [id, p] : transport_->clients()) {
    s.peers.push_back({p->member().addr, p->connected(), p->dropped()});
  }
  return s;
}

// ---------------------------------------------------------------- snapshots

StatusOr<uint64_t> Replicator::BeginInstall(consensus::Slot slot, consensus::NodeId from, consensus::Ballot ballot) {
  absl::MutexLock apply(&apply_mu_);
  return replica_->BeginInstall(slot, from, ballot);
}

Status Replicator::InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk) {
  Status s;
  {
    absl::MutexLock apply(&apply_mu_);
    s = replica_->InstallChunk(generation, chunk);
    Publish();
  }
  cv_.Signal();  // the driver resumes once the install is in
  return s;
}

void Replicator::AbortInstall(uint64_t generation) {
  absl::MutexLock apply(&apply_mu_);
  replica_->AbortInstall(generation);
  Publish();
}

}  // namespace kvgo::replication
