#include "replication/replica.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/failpoint.h"
#include "consensus/ready.h"
#include "replication/codec.h"
#include "replication/log_store.h"

namespace kvgo::replication {

namespace {

using consensus::NodeId;
using consensus::Slot;

// The applied entries the log keeps for lagging peers take at most this
// much memory (the core holds them) besides log_keep_entries: with large
// values the byte bound compacts first, and a peer further behind gets a
// snapshot.
constexpr size_t kLogKeepBytes = 64 << 20;
// A snapshot install that receives no chunk for this long is aborted.
constexpr auto kInstallStall = std::chrono::seconds(60);

}  // namespace

StatusOr<std::unique_ptr<Replica>> Replica::Open(Options options, Env env, consensus::Restored restored) {
  std::unique_ptr<Replica> r(new Replica(std::move(options), std::move(env)));
  auto applier = Applier::Open(r->env_.store, r->env_.sm, r->env_.rules, r->env_.listener);
  if (!applier.ok()) return applier.status();
  r->applier_ = std::move(*applier);
  r->router_ =
      std::make_unique<Router>(Router::Options{r->options_.node.id, r->options_.tick, r->options_.park_limit,
                                               r->options_.proposal_seed, r->options_.testing_retry_unknown},
                               r->env_.transport, r->env_.clock, r->applier_.get(), r->env_.rules, r->env_.repost);
  r->ResetKept(restored);
  r->node_ = std::make_unique<consensus::Node>(r->options_.node, std::move(restored));
  r->origin_ = r->env_.clock->SteadyNow();
  r->Publish();
  return r;
}

std::chrono::steady_clock::time_point Replica::NextWake() const {
  return std::min(origin_ + (ticks_ + 1) * options_.tick, router_->HeldDeadline());
}

void Replica::Handle(std::vector<Input>& in) {
  const auto now = env_.clock->SteadyNow();
  if (installer_.active()) {
    // Timers are paused and peer messages dropped while a snapshot
    // installs; writes still go to the leader.
    for (auto& i : in) {
      if (auto* p = std::get_if<Proposal>(&i)) router_->Dispatch(*node_, std::move(*p));
      if (auto* rd = std::get_if<LeaderRead>(&i)) rd->done(absl::UnavailableError("not the leader"), 0);
    }
    origin_ = now - ticks_ * options_.tick;
    if (installer_.StalledFor(kInstallStall)) {
      spdlog::warn("snapshot install stalled (no chunk for {} s): aborting it",
                   std::chrono::duration_cast<std::chrono::seconds>(kInstallStall).count());
      AbortActiveInstall();
    }
    // Parked writes still get their answer when their time is up, not when
    // the install ends.
    router_->RetryParked(*node_);
    router_->FlushForwards();
    return;
  }
  // Ticks first: after a stall, a message that arrived meanwhile must not
  // be stepped at a logical time earlier than the real one (a follower
  // would then count its no-vote window from too early).
  while (now >= origin_ + (ticks_ + 1) * options_.tick) {
    node_->Tick();
    ticks_++;
  }
  std::vector<LeaderRead> reads;
  for (auto& i : in) {
    if (auto* m = std::get_if<consensus::Message>(&i)) node_->Step(*m);
    if (auto* p = std::get_if<Proposal>(&i)) {
      // A removed node knows no leader to forward to any more, and its data
      // falls behind: it answers at once.
      if (!node_->membership().Contains(options_.node.id)) {
        p->done(absl::FailedPreconditionError(
            "this node is not a member of the cluster any more (removed); send requests to a member"));
        continue;
      }
      router_->Dispatch(*node_, std::move(*p));
    }
    if (auto* rd = std::get_if<LeaderRead>(&i)) reads.push_back(std::move(*rd));
  }
  StartLeaderReads(std::move(reads));
  // Held writes whose round was just chosen go out with this round's
  // Ready; but a leader that is not precomputing yet dispatches them after
  // the Ready that applies that round, so that every slot before them is
  // applied and precomputation can start (Applier::Speculate): else, under
  // steady load, it would never find the log applied.
  if (applier_->speculating()) router_->FlushHeld(*node_, false);
  while (node_->HasReady()) HandleReady();
  router_->FlushHeld(*node_, false);
  while (node_->HasReady()) HandleReady();
  router_->RetryParked(*node_);
  router_->FlushForwards();
  CompactIfNeeded();
  AnswerChange();
  Publish();
}

void Replica::StartLeaderReads(std::vector<LeaderRead> reads) {
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

void Replica::HandleReady() {
  // The order is consensus::ProcessReady's, the one the simulator proves;
  // the core makes it safe (consensus/paxos.h, Ready).
  struct Steps : consensus::ReadyHandler {
    explicit Steps(Replica* r) : r(r) {}
    bool Send(consensus::Ready& rd) override {
      for (auto& m : rd.messages) r->env_.transport->Send(std::move(m));
      rd.messages.clear();
      return true;
    }
    bool Apply(consensus::Ready& rd) override {
      r->ApplyReady(rd);
      return true;
    }
    bool Persist(consensus::Ready& rd) override {
      if (!rd.hard_state && rd.entries.empty()) return true;
      KVGO_FAILPOINT("paxos.persist.before");
      const auto t0 = r->env_.clock->SteadyNow();
      if (Status s = r->env_.log->Persist(rd.hard_state, rd.entries); !s.ok()) {
        // The acceptor's promise to its peers depends on this write: never
        // carry on after a failed one (docs/replication.md).
        spdlog::critical("writing the Paxos log failed: {}; stopping the process", std::string(s.message()));
        std::abort();
      }
      if (r->env_.observer) {
        r->env_.observer(rd.entries.size(), std::chrono::duration<double>(r->env_.clock->SteadyNow() - t0).count());
      }
      KVGO_FAILPOINT("paxos.persist.after");
      return true;
    }
    bool Snapshot(consensus::Ready& rd) override {
      // A leader's snapshot: its applied state, as its own ballot's leader.
      for (NodeId peer : rd.snapshots) {
        r->env_.snapshots->Start(peer, r->node_->applied(), r->node_->promised());
      }
      return true;
    }
    Replica* r;
  } steps(this);
  consensus::ProcessReady(*node_, steps);
  if (node_->role() != consensus::Role::kLeader) {
    applier_->EndSpeculation();
    // A leader that lost its role: reads it was confirming will not come.
    for (auto& [id, batch] : reads_) {
      for (auto& r : batch) r.done(absl::UnavailableError("leadership changed; retry"), 0);
    }
    reads_.clear();
  }
}

void Replica::ApplyReady(const consensus::Ready& rd) {
  Proposals& proposed = router_->proposed();
  for (const auto& e : rd.committed) {
    kept_.emplace_back(e.slot, e.value().size());
    kept_bytes_ += e.value().size();
  }
  Applier::Applied applied = applier_->Apply(rd.committed, proposed);
  view_.entries_skipped += applied.skipped;
  // Published before the answers: a read index taken after a write's answer
  // must cover the write.
  if (!rd.committed.empty() && env_.applied) env_.applied(rd.committed.back().slot);
  for (auto& [done, res] : applied.answers) done(std::move(res));
  if (change_) {
    for (const auto& e : rd.committed) {
      if (e.slot != change_->slot) continue;
      if (e.data == change_->record && consensus::TakesEffect(e, change_->base)) {
        change_->chosen = true;  // answered once the new voters know (AnswerChange)
        break;
      }
      auto done = std::move(change_->done);
      change_.reset();
      done(absl::AbortedError("another value was chosen in the membership change's slot; it was not made"));
      break;
    }
  }
  for (Slot s : rd.unknown) {
    if (change_ && s == change_->slot) {
      auto done = std::move(change_->done);
      change_.reset();
      done(absl::DeadlineExceededError(
          "leadership changed before the membership change was chosen; its outcome is unknown"));
    }
    auto it = proposed.find(s);
    if (it == proposed.end()) continue;
    it->second.done(
        absl::DeadlineExceededError("leadership changed before the write was chosen; its outcome is unknown"));
    proposed.erase(it);
  }
  // Everything this leader proposed is applied: the store is the
  // speculative state, so its overlay can go (this bounds its memory).
  if (proposed.empty()) applier_->Settle();
  for (const auto& r : rd.reads) {
    auto it = reads_.find(r.id);
    if (it == reads_.end()) continue;
    // Off this thread: the continuation may run the query itself.
    env_.defer([batch = std::move(it->second), index = r.index]() mutable {
      for (auto& one : batch) one.done(absl::OkStatus(), index);
    });
    reads_.erase(it);
  }
}

void Replica::ResetKept(const consensus::Restored& restored) {
  kept_.clear();
  kept_bytes_ = 0;
  for (const auto& [slot, e] : restored.entries) {
    if (slot <= restored.compacted || slot > restored.applied) continue;
    kept_.emplace_back(slot, e.value().size());
    kept_bytes_ += e.value().size();
  }
}

void Replica::DropKeptThrough(Slot upto) {
  while (!kept_.empty() && kept_.front().first <= upto) {
    kept_bytes_ -= kept_.front().second;
    kept_.pop_front();
  }
}

void Replica::CompactIfNeeded() {
  const Slot keep = static_cast<Slot>(options_.log_keep_entries);
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
  std::vector<NodeId> peers = node_->membership().voters;
  peers.insert(peers.end(), node_->membership().learners.begin(), node_->membership().learners.end());
  for (NodeId peer : peers) {
    const auto from = env_.snapshots->InFlight(peer);
    if (from && upto > *from && kept_bytes_ <= 4 * kLogKeepBytes) upto = *from;
  }
  if (upto <= compacted) return;
  // Compact syncs the KV store first (making every applied write before
  // it durable), so entries up to the applied slot may go.
  if (Status s = env_.log->Compact(upto); !s.ok()) {
    spdlog::warn("compacting the Paxos log failed (will retry): {}", std::string(s.message()));
    return;
  }
  node_->Compact(upto);
  DropKeptThrough(upto);
  spdlog::debug("Paxos log compacted up to slot {}", upto);
}

void Replica::Publish() {
  const bool leader = node_->role() == consensus::Role::kLeader;
  const NodeId leader_id = leader ? options_.node.id : node_->leader();
  ReplicaView& v = view_;
  v.role = node_->role();
  v.leader_ready = node_->LeaderReady();
  v.round_in_flight = leader && router_->RoundInFlight(*node_);
  v.lease_until = {};
  if (v.leader_ready && node_->applied() >= node_->commit() && node_->lease_until_tick() > node_->now_tick()) {
    v.lease_until = origin_ + node_->lease_until_tick() * options_.tick;
  }
  if (leader_id != last_leader_) {
    const std::string addr = leader_id == options_.node.id ? options_.self_addr : env_.transport->Addr(leader_id);
    spdlog::info("leader is now {} (ballot round {})", leader_id == 0 ? "none" : addr, node_->promised().round);
    last_leader_ = leader_id;
    v.leader_changes++;
    v.leader_addr = leader_id == 0 ? "" : addr;
  }
  v.leader = leader_id;
  v.ballot_round = node_->promised().round;
  v.commit = node_->commit();
  v.applied = node_->applied();
  v.compacted = node_->compacted();
  v.log_bytes = env_.log->bytes();
  v.forwarded = router_->forwarded();
  v.forward_calls = router_->forward_calls();
  v.membership = node_->membership();
  v.membership_changing = node_->pending_membership() != nullptr;
}

void Replica::ChangeMembership(consensus::Membership next, std::vector<peer::pb::Member> members,
                               std::function<void(Status)> done) {
  if (change_) return done(absl::FailedPreconditionError("another membership change is not answered yet; retry"));
  peer::pb::MembershipRecord rec;
  for (auto& m : members) *rec.add_members() = std::move(m);
  auto record = std::make_shared<const std::string>(rec.SerializeAsString());
  std::string why;
  const Slot base = node_->membership_slot();
  const Slot slot = node_->ProposeMembership(std::move(next), &why, record);
  if (slot == 0) return done(absl::FailedPreconditionError(why));
  change_ = PendingChange{slot, base, std::move(record), false, std::move(done)};
  while (node_->HasReady()) HandleReady();
  Publish();
}

void Replica::AnswerChange() {
  // A change is done once chosen and known to a quorum of the new voters
  // (or this node no longer leads: the others carry it on).
  if (!change_ || !change_->chosen || !node_->MembershipSettled()) return;
  auto done = std::move(change_->done);
  change_.reset();
  done(absl::OkStatus());
}

Status Replica::TransferLeadership(NodeId to) {
  std::string why;
  if (!node_->TransferLeadership(to, &why)) return absl::FailedPreconditionError(why);
  while (node_->HasReady()) HandleReady();
  Publish();
  return absl::OkStatus();
}

void Replica::FailAll() {
  const Status down = absl::UnavailableError("server is shutting down");
  router_->FailAll(down, absl::DeadlineExceededError("server is shutting down; the write's outcome is unknown"));
  for (auto& [id, batch] : reads_) {
    for (auto& rd : batch) rd.done(down, 0);
  }
  reads_.clear();
  if (change_) {
    auto done = std::move(change_->done);
    change_.reset();
    done(down);
  }
}

// ---------------------------------------------------------------- install

StatusOr<uint64_t> Replica::BeginInstall(Slot slot, NodeId from, consensus::Ballot ballot) {
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
  auto gen = installer_.Begin(slot, from);
  if (gen.ok()) spdlog::info("installing a snapshot at slot {} (this node applied {})", slot, node_->applied());
  return gen;
}

Status Replica::InstallChunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk) {
  auto done = installer_.Chunk(generation, chunk);
  if (!done.ok()) return done.status();
  if (!*done) return absl::OkStatus();
  const Slot slot = installer_.slot();
  if (Status s = env_.log->DropThrough(slot); !s.ok()) {
    spdlog::warn("cannot delete old Paxos WAL segments (retried at the next compaction): {}", std::string(s.message()));
  }
  if (Status s = applier_->Reload(); !s.ok()) return s;
  DropKeptThrough(slot);
  auto members = PaxosLogStore::ReadMembership(env_.store);
  if (!members.ok()) return members.status();
  std::optional<consensus::Membership> membership;
  Slot membership_slot = 0;
  if (*members) {
    membership = FromProto((*members)->membership());
    membership_slot = (*members)->slot();
  }
  node_->SnapshotInstalled(slot, installer_.from(), std::move(membership), membership_slot);
  if (env_.applied) env_.applied(slot);
  view_.snapshots_received++;
  spdlog::info("snapshot at slot {} installed in {:.1f} s", slot, installer_.seconds());
  Publish();
  return absl::OkStatus();
}

void Replica::AbortInstall(uint64_t generation) {
  if (generation != installer_.generation() || !installer_.active()) return;
  AbortActiveInstall();
}

void Replica::AbortActiveInstall() {
  installer_.Abort();
  view_.installs_aborted++;
  // The KV data is partly replaced: start over as a new node (keeping the
  // promise), as a restart would (PaxosLogStore::Load).
  spdlog::warn("snapshot install aborted: resetting this node's data; the leader will send a new snapshot");
  Status s = env_.log->WipeData();
  if (s.ok()) s = storage::StateMachine::Open(env_.store).status();  // writes the initial records again
  if (!s.ok()) {
    spdlog::critical("cannot reset the data after an aborted snapshot: {}; stopping the process",
                     std::string(s.message()));
    std::abort();
  }
  auto restored = env_.log->Load();
  if (!restored.ok()) {
    spdlog::critical("cannot reload the Paxos log: {}; stopping the process", std::string(restored.status().message()));
    std::abort();
  }
  ResetKept(*restored);
  node_ = std::make_unique<consensus::Node>(options_.node, std::move(*restored));
  origin_ = env_.clock->SteadyNow();
  ticks_ = 0;
  if (env_.applied) env_.applied(0);
  if (Status r = applier_->Reload(); !r.ok()) {
    spdlog::critical("cannot reload the reset data: {}; stopping the process", std::string(r.message()));
    std::abort();
  }
  Publish();
}

}  // namespace kvgo::replication
