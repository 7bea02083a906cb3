#include "replication/applier.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/failpoint.h"
#include "common/limits.h"
#include "replication/codec.h"
#include "replication/log_store.h"
#include "storage/keys.h"

namespace kvgo::replication {

StatusOr<std::unique_ptr<Applier>> Applier::Open(storage::Store* store, storage::StateMachine* sm, ApplyRules* rules,
                                                 EffectsListener listener) {
  auto spec = storage::StateMachine::Open(store);
  if (!spec.ok()) return spec.status();
  std::unique_ptr<Applier> a(new Applier(store, sm, std::move(*spec), rules, std::move(listener)));
  if (Status s = a->LoadHead(); !s.ok()) return s;
  rules->SetFloor(sm->apply_rules_floor());
  return a;
}

Status Applier::LoadHead() {
  std::string v;
  Status s = store_->Get(storage::keys::ApplyHead(), &v);
  if (absl::IsNotFound(s)) {
    chain_.head = 0;
  } else if (!s.ok()) {
    return s;
  } else if (v.size() != 8) {
    return absl::DataLossError("corrupt apply head record");
  } else {
    chain_.head = storage::keys::GetBig64(v);
  }
  auto members = PaxosLogStore::ReadMembership(store_);
  if (!members.ok()) return members.status();
  membership_slot_ = *members ? (*members)->slot() : 0;
  return absl::OkStatus();
}

void Applier::PutMembership(const consensus::Entry& e, leveldb::WriteBatch* batch) {
  if (!consensus::TakesEffect(e, membership_slot_)) return;
  peer::pb::MembershipRecord rec;
  // The proposer's record names the members' addresses; the membership and
  // its slot are the entry's.
  if (e.data && !rec.ParseFromString(*e.data)) rec.Clear();
  ToProto(*e.config, rec.mutable_membership());
  rec.set_slot(e.slot);
  batch->Put(storage::keys::MembershipKey(), rec.SerializeAsString());
  membership_slot_ = e.slot;
  spdlog::info("membership from slot {} on: {}", e.slot + 1, e.config->ToString());
}

Status Applier::Reload() {
  EndSpeculation();
  auto effects = sm_->LoadEffects();
  if (!effects.ok()) return effects.status();
  if (Status s = LoadHead(); !s.ok()) return s;
  rules_->SetFloor(effects->apply_rules_floor);
  if (listener_) listener_(*effects);
  return absl::OkStatus();
}

void Applier::Speculate(const consensus::Node& node, Proposal& p) {
  // A bound on the speculative state's memory (each write adds a few
  // records): beyond it, plain commands until everything is applied.
  constexpr size_t kMaxSpeculativeWrites = 1 << 16;
  if (!spec_active_) {
    // The speculative state starts as the applied state, so only when
    // every slot before this proposal's is applied (then nothing chosen
    // later can come before it).
    if (!node.LeaderReady() || node.applied() + 1 != node.next_slot()) return;
    spec_->Reset(sm_->apply_rules_floor());
    spec_head_ = chain_.head;
    spec_active_ = true;
    spdlog::debug("precomputing writes from slot {}", node.next_slot());
  } else if (spec_->overlay_size() > kMaxSpeculativeWrites) {
    spdlog::debug("speculative state full: plain commands until everything is applied");
    EndSpeculation();
    return;
  }
  p.cmd.set_after_id(spec_head_);
  storage::pb::Precomputed pre;
  storage::RecordSink sink(&pre);
  storage::pb::CommandResult result;
  if (Status s = spec_->Apply(p.cmd, &sink, &result); !s.ok()) {
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

void Applier::EndSpeculation() {
  if (!spec_active_) return;
  spec_active_ = false;
  spec_->Reset(0);
}

void Applier::Settle() {
  if (!spec_active_) return;
  if (spec_head_ == chain_.head) {
    spec_->Reset(sm_->apply_rules_floor());
  } else {
    EndSpeculation();
  }
}

Applier::Applied Applier::Apply(const std::vector<consensus::Entry>& committed, Proposals& proposed) {
  Applied out;
  if (committed.empty()) return out;
  leveldb::WriteBatch batch;
  storage::BatchSink sink(&batch);
  const uint64_t head_before = chain_.head;
  uint64_t& skipped = out.skipped;
  KVGO_FAILPOINT("apply.before");
  for (const auto& e : committed) {
    auto mine = proposed.find(e.slot);
    StatusOr<storage::pb::CommandResult> result =
        absl::UnavailableError("another leader's value was chosen for this write's slot; the write was not applied");
    if (e.config) PutMembership(e, &batch);
    if (!e.noop && !e.config) {
      // This node's own proposal, as proposed (no need to decode it).
      const bool own = mine != proposed.end() && mine->second.data != nullptr && e.data == mine->second.data;
      storage::pb::Command decoded;
      storage::pb::Command* cmd = own ? &mine->second.cmd : &decoded;
      if (own || decoded.ParseFromString(e.value())) {
        if (cmd->apply_rules() > rules_->max()) {
          // Proposed while every member could apply it, so this node was
          // downgraded since: applying under other rules would make its
          // state differ from the others' for good. Exit 2: a restart of the
          // same binary cannot help (the unit's RestartPreventExitStatus
          // keeps systemd from trying).
          spdlog::critical(
              "slot {} was proposed under apply rules {}, and this version applies rules up to {}: run the "
              "newer version on this node (or wipe its data directory to get a snapshot); stopping the process",
              e.slot, cmd->apply_rules(), rules_->max());
          spdlog::default_logger()->flush();
          std::_Exit(2);
        }
        const bool is_mine = mine != proposed.end() && mine->second.cmd.proposal_id() == cmd->proposal_id();
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
            storage::pb::CommandResult r;
            if (Status s = sm_->Apply(*cmd, &sink, &r); !s.ok()) {
              // The other replicas applied this command; skipping its effects
              // here would make this node's state differ from theirs for good.
              spdlog::critical("reading the store failed while applying slot {}: {}; stopping the process", e.slot,
                               std::string(s.message()));
              std::abort();
            }
            res = std::move(r);
          }
          if (is_mine) result = std::move(res);
        }
      } else {
        spdlog::error("slot {} holds an undecodable command; skipped", e.slot);
      }
    }
    if (mine != proposed.end()) {
      out.answers.emplace_back(std::move(mine->second.done), std::move(result));
      proposed.erase(mine);
    }
  }
  if (chain_.head != head_before) {
    std::string v;
    storage::keys::PutBig64(&v, chain_.head);
    batch.Put(storage::keys::ApplyHead(), v);
  }
  if (skipped > 0) spdlog::info("skipped {} entries computed after an entry a leader change replaced", skipped);
  PaxosLogStore::PutApplied(committed.back().slot, &batch);
  // Applied entries are not synced: they are chosen, hence on a majority's
  // disks and in this node's WAL, and LevelDB's writes reach the disk in
  // order (storage/env.h), so a power loss can only take a suffix of them,
  // with the applied slot that goes with them; the restarted node applies
  // them again from its log. (Log compaction syncs the KV store first, so
  // no entry is dropped before its effects are durable.)
  if (Status s = store_->Write(&batch); !s.ok()) {
    // The other replicas applied these entries; carrying on without their
    // effects would make this node's state differ for good.
    spdlog::critical("writing applied data failed: {}; stopping the process", std::string(s.message()));
    std::abort();
  }
  storage::StateMachine::Effects effects = sm_->Commit();
  rules_->SetFloor(effects.apply_rules_floor);
  if (listener_) listener_(effects);
  KVGO_FAILPOINT("apply.after");
  return out;
}

}  // namespace kvgo::replication
