// Node: log compaction, snapshot installs, and the Ready contract (what is
// handed to the driver, and what Advance() makes count). See Ready in
// paxos.h.
#include <algorithm>

#include "consensus/paxos.h"

namespace kvgo::consensus {

void Node::Compact(Slot upto) {
  upto = std::min(upto, applied_);
  if (upto <= compacted_) return;
  log_.erase(log_.begin(), log_.upper_bound(upto));
  config_slots_.erase(config_slots_.begin(), config_slots_.upper_bound(upto));
  compacted_ = upto;
}

void Node::SnapshotInstalled(Slot slot, NodeId from, std::optional<Membership> membership, Slot membership_slot) {
  // REQUIRES (caller): the state machine was at applied() and now is at slot.
  if (slot <= applied_) return;
  if (membership && membership_slot >= members_slot_) {
    membership->Normalize();
    members_ = std::move(*membership);
    members_slot_ = membership_slot;
  }
  log_.erase(log_.begin(), log_.upper_bound(slot));
  config_slots_.erase(config_slots_.begin(), config_slots_.upper_bound(slot));
  for (auto it = pending_entries_.begin(); it != pending_entries_.end();) {
    it = it->first <= slot ? pending_entries_.erase(it) : std::next(it);
  }
  applied_ = slot;
  commit_ = std::max(commit_, slot);
  compacted_ = slot;
  trusted_ = std::max(trusted_, slot);
  // Entries after the snapshot that this node holds in the leader's ballot
  // stay trusted.
  for (auto it = log_.upper_bound(trusted_);
       it != log_.end() && it->first == trusted_ + 1 && it->second.ballot == follower_ballot_; ++it) {
    trusted_ = it->first;
  }
  if (role_ == Role::kFollower && leader_ == from) {
    Message r;
    r.type = MsgType::kAccepted;
    r.to = from;
    r.ballot = follower_ballot_;
    r.promised = promised_;
    r.ok = true;
    r.last_slot = trusted_;
    Send(std::move(r));
  }
}

Slot Node::LowestUnstable() const {
  if (cfg_.testing_count_unpersisted) return 0;
  Slot low = pending_entries_.empty() ? 0 : pending_entries_.begin()->first;
  if (handed_min_slot_ != 0 && (low == 0 || handed_min_slot_ < low)) low = handed_min_slot_;
  return low;
}

Slot Node::Committable() const {
  const Slot unstable = LowestUnstable();
  return unstable == 0 ? commit_ : std::min(commit_, unstable - 1);
}

bool Node::HasReady() const {
  return pending_hard_ || !pending_entries_.empty() || !pending_msgs_.empty() || !held_for_pending_.empty() ||
         Committable() > applied_ || !ready_reads_.empty() || !ready_snapshots_.empty() || !ready_unknown_.empty() ||
         (role_ == Role::kLeader && dirty_);
}

Ready Node::GetReady() {
  if (role_ == Role::kLeader) {
    if (dirty_) BroadcastAccepts(false);
    AdvanceCommit();
  }
  Ready rd;
  rd.hard_state = pending_hard_;
  for (auto& [s, e] : pending_entries_) rd.entries.push_back(std::move(e));
  rd.messages = std::move(pending_msgs_);
  // What this Ready persists is not durable before Advance().
  handed_out_ = true;
  handed_hard_ = pending_hard_;
  handed_min_slot_ = rd.entries.empty() ? 0 : rd.entries.front().slot;
  held_for_handed_ = std::move(held_for_pending_);
  held_for_pending_.clear();
  const Slot upto = Committable();
  for (auto it = log_.upper_bound(applied_); it != log_.end() && it->first <= upto; ++it) {
    rd.committed.push_back(it->second);
  }
  applied_ = std::max(applied_, upto);
  rd.reads = std::move(ready_reads_);
  ready_reads_.clear();
  rd.snapshots = std::move(ready_snapshots_);
  ready_snapshots_.clear();
  rd.unknown = std::move(ready_unknown_);
  ready_unknown_.clear();
  pending_hard_.reset();
  pending_entries_.clear();
  pending_msgs_.clear();
  return rd;
}

void Node::Advance() {
  if (!handed_out_) return;
  handed_out_ = false;
  handed_min_slot_ = 0;
  if (handed_hard_) durable_promised_ = handed_hard_->promised;
  handed_hard_.reset();
  announced_ = applied_;
  for (auto& m : held_for_handed_) pending_msgs_.push_back(std::move(m));
  held_for_handed_.clear();
  // A candidate's own vote, now that its promise is durable.
  if (role_ == Role::kCandidate && durable_promised_ == my_ballot_ && !votes_.count(cfg_.id)) {
    votes_[cfg_.id] = true;
    if (QuorumsOf(Governing(recovered_), votes_)) BecomeLeader();
  }
  // A leader's own acceptance of what it just persisted.
  AdvanceCommit();
  Settle();
}

}  // namespace kvgo::consensus
