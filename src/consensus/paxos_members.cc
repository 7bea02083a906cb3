// Node: membership changes and leadership transfer. The rules and why they
// are safe: docs/consensus.md, "Membership changes".
#include <algorithm>
#include <sstream>

#include "consensus/paxos.h"

namespace kvgo::consensus {

bool Membership::IsVoter(NodeId id) const { return std::binary_search(voters.begin(), voters.end(), id); }

bool Membership::Contains(NodeId id) const {
  return IsVoter(id) || std::binary_search(learners.begin(), learners.end(), id);
}

void Membership::Normalize() {
  for (auto* v : {&voters, &learners}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
}

std::string Membership::ToString() const {
  std::ostringstream o;
  o << "voters {";
  for (size_t i = 0; i < voters.size(); i++) o << (i ? "," : "") << voters[i];
  o << "} learners {";
  for (size_t i = 0; i < learners.size(); i++) o << (i ? "," : "") << learners[i];
  o << "}";
  return o.str();
}

std::string CheckMembershipChange(const Membership& current, const Membership& next) {
  for (NodeId id : next.voters) {
    if (id == 0) return "node id 0 is not valid";
    if (std::binary_search(next.learners.begin(), next.learners.end(), id)) {
      return "node " + std::to_string(id) + " is both a voter and a learner";
    }
  }
  if (next.voters.empty()) return "the last voter cannot be removed";
  std::vector<NodeId> changed;
  std::set_symmetric_difference(current.voters.begin(), current.voters.end(), next.voters.begin(), next.voters.end(),
                                std::back_inserter(changed));
  // One voter at a time: then every quorum of the old voters meets every
  // quorum of the new ones (Ongaro, Raft thesis 4.1), which the leader's
  // lease relies on across the change.
  if (changed.size() > 1) return "only one voter may be added or removed at a time";
  if (changed.empty() && current.learners == next.learners) return "the membership is unchanged";
  return "";
}

bool TakesEffect(const Entry& e, Slot current, bool unchecked) {
  return e.config != nullptr && e.slot > current && (e.config_base == current || unchecked);
}

std::vector<std::pair<Slot, const Membership*>> Node::Chain(const std::map<Slot, Entry>& log) const {
  std::vector<std::pair<Slot, const Membership*>> out = {{members_slot_, &members_}};
  auto take = [&](const Entry& e) {
    if (TakesEffect(e, out.back().first, cfg_.testing_unchecked_membership)) out.emplace_back(e.slot, e.config.get());
  };
  if (&log == &log_) {
    for (auto it = config_slots_.upper_bound(ConfigFloor()); it != config_slots_.end(); ++it) {
      if (auto e = log_.find(*it); e != log_.end()) take(e->second);
    }
    return out;
  }
  for (auto it = log.upper_bound(ConfigFloor()); it != log.end(); ++it) take(it->second);
  return out;
}

std::vector<const Membership*> Node::Governing(const std::map<Slot, Entry>& log) const {
  std::vector<const Membership*> out;
  for (const auto& [slot, m] : Chain(log)) out.push_back(m);
  return out;
}

bool Node::QuorumsOf(const std::vector<const Membership*>& configs, const std::map<NodeId, bool>& ids) {
  for (const Membership* c : configs) {
    size_t n = 0;
    for (NodeId v : c->voters) {
      auto it = ids.find(v);
      if (it != ids.end() && it->second) n++;
    }
    if (n < c->Quorum()) return false;
  }
  return true;
}

Slot Node::PendingConfigSlot() const {
  const auto chain = Chain(log_);
  return chain.size() > 1 ? chain[1].first : 0;
}

Slot Node::SendLimit() const {
  const Slot last = next_slot_ - 1;
  const Slot fence = PendingConfigSlot();
  return fence == 0 ? last : std::min(last, fence);
}

const Membership* Node::pending_membership() const {
  const auto chain = Chain(log_);
  return chain.size() > 1 ? chain[1].second : nullptr;
}

bool Node::KnownVoter(NodeId id) const {
  for (const Membership* c : Governing(log_)) {
    if (c->IsVoter(id)) return true;
  }
  return false;
}

void Node::SetCommit(Slot c) {
  if (c <= commit_) return;
  bool changed = false;
  for (auto it = config_slots_.upper_bound(ConfigFloor()); it != config_slots_.end() && *it <= c; ++it) {
    auto e = log_.find(*it);
    if (e == log_.end() || !TakesEffect(e->second, members_slot_, cfg_.testing_unchecked_membership)) continue;
    members_ = *e->second.config;
    members_slot_ = *it;
    changed = true;
  }
  commit_ = c;
  if (changed) OnMembershipChosen();
}

void Node::OnMembershipChosen() {
  if (transfer_to_ != 0 && !members_.IsVoter(transfer_to_)) transfer_to_ = 0;
  if (role_ != Role::kLeader) return;
  // Until the new voters know the change is chosen, electing a leader
  // among them still needs the old voters (Settle).
  settling_ = true;
  settle_seq_ = 0;
  RefreshPeers(next_slot_);
  dirty_ = true;  // the entries held behind the change may go out now
}

void Node::Settle() {
  if (role_ != Role::kLeader || !settling_) return;
  if (settle_seq_ == 0) {
    if (CommitToAnnounce() < members_slot_) return;
    StartHeartbeatRound();
    settle_seq_ = hb_seq_;
    BroadcastAccepts(/*heartbeat=*/true);
    return;
  }
  size_t know = 0;
  for (NodeId v : members_.voters) {
    auto it = peers_.find(v);
    if (v == cfg_.id ||
        (it != peers_.end() && it->second.acked_seq >= settle_seq_ && it->second.match >= members_slot_)) {
      know++;
    }
  }
  if (know < members_.Quorum()) return;
  settling_ = false;
  if (members_.IsVoter(cfg_.id)) return;
  // Removed: hand over to the most caught-up voter (so the others need not
  // wait out an election timeout), then step down for good.
  NodeId best = 0;
  Slot best_match = 0;
  for (const auto& [id, p] : peers_) {
    if (members_.IsVoter(id) && p.match >= best_match) {
      best = id;
      best_match = p.match;
    }
  }
  if (best != 0) {
    Message t;
    t.type = MsgType::kTimeoutNow;
    t.to = best;
    t.ballot = my_ballot_;
    Send(std::move(t));
  }
  BecomeFollower(my_ballot_, 0);
}

void Node::RefreshPeers(Slot next) {
  std::set<NodeId> want;
  for (const Membership* c : Governing(log_)) {
    want.insert(c->voters.begin(), c->voters.end());
    want.insert(c->learners.begin(), c->learners.end());
  }
  want.erase(cfg_.id);
  for (NodeId id : want) {
    auto [it, fresh] = peers_.try_emplace(id);
    if (fresh) it->second.next = next;
    it->second.farewell = -1;
  }
  // A removed member still hears from us for a while, so that it learns
  // that its removal was chosen.
  for (auto& [id, p] : peers_) {
    if (!want.count(id) && p.farewell < 0) p.farewell = now_ + 2 * cfg_.election_ticks;
  }
}

Slot Node::ProposeMembership(Membership next, std::string* why, std::shared_ptr<const std::string> context) {
  auto fail = [&](std::string s) {
    if (why) *why = std::move(s);
    return Slot{0};
  };
  if (role_ != Role::kLeader) return fail("not the leader");
  if (!LeaderReady()) return fail("the leader has not yet chosen a value of its own ballot; retry");
  if (transfer_to_ != 0) return fail("a leadership transfer is under way; retry");
  const bool unchecked = cfg_.testing_unchecked_membership;
  if (const Slot s = PendingConfigSlot(); s != 0 && !unchecked) {
    return fail("another membership change (slot " + std::to_string(s) + ") is not chosen yet; retry");
  }
  if (settling_ && !unchecked) return fail("the last membership change is not yet known to the new voters; retry");
  next.Normalize();
  if (std::string e = CheckMembershipChange(members_, next); !e.empty() && !unchecked) return fail(e);
  // A change that a quorum cannot choose, or after which no quorum is
  // reachable, would stall the cluster: refuse it while nothing changed.
  auto heard = [&](NodeId v) {
    auto it = peers_.find(v);
    return v == cfg_.id ||
           (it != peers_.end() && it->second.heard_at >= 0 && now_ - it->second.heard_at < cfg_.election_ticks);
  };
  for (NodeId v : next.voters) {
    if (!members_.IsVoter(v) && !heard(v)) {
      return fail("node " + std::to_string(v) + " would vote but was not heard from within the election timeout");
    }
  }
  for (const Membership* c : std::initializer_list<const Membership*>{&members_, &next}) {
    size_t n = 0;
    for (NodeId v : c->voters) n += heard(v);
    if (n < c->Quorum()) {
      return fail("only " + std::to_string(n) + " of the " + std::to_string(c->voters.size()) + " voters of " +
                  (c == &members_ ? "the current" : "the new") + " membership were heard from within the election " +
                  "timeout; it needs " + std::to_string(c->Quorum()));
    }
  }
  const Slot s = next_slot_++;
  Entry e;
  e.slot = s;
  e.ballot = my_ballot_;
  e.config_base = members_slot_;
  e.data = std::move(context);
  e.config = std::make_shared<const Membership>(std::move(next));
  AcceptLocal(std::move(e));
  RefreshPeers(next_slot_);
  dirty_ = true;
  return s;
}

bool Node::TransferLeadership(NodeId to, std::string* why) {
  auto fail = [&](std::string s) {
    if (why) *why = std::move(s);
    return false;
  };
  if (role_ != Role::kLeader) return fail("not the leader");
  if (to == cfg_.id) return fail("this node already leads");
  if (!members_.IsVoter(to)) return fail("node " + std::to_string(to) + " is not a voter");
  if (const Membership* p = pending_membership(); p && !p->IsVoter(to)) {
    return fail("node " + std::to_string(to) + " is being removed");
  }
  transfer_to_ = to;
  transfer_elapsed_ = 0;
  transfer_sent_ = false;
  MaybeSendTimeoutNow();
  return true;
}

void Node::MaybeSendTimeoutNow() {
  if (role_ != Role::kLeader || transfer_to_ == 0) return;
  auto it = peers_.find(transfer_to_);
  // The target must hold everything this node holds, durably here too, or
  // it could not win (or would win without values we acked).
  if (it == peers_.end() || it->second.match < next_slot_ - 1 || LowestUnstable() != 0) {
    if (it != peers_.end() && it->second.next < next_slot_) SendAccepts(transfer_to_, false);
    return;
  }
  if (transfer_sent_) return;
  transfer_sent_ = true;
  // Voters may now elect the target although they hear from this node:
  // this node's lease ends here and never comes back in this ballot (a
  // TimeoutNow delayed past an aborted transfer must find no lease).
  lease_until_ = 0;
  lease_off_ = true;
  Message t;
  t.type = MsgType::kTimeoutNow;
  t.to = transfer_to_;
  t.ballot = my_ballot_;
  Send(std::move(t));
}

void Node::OnTimeoutNow(const Message& m) {
  if (role_ != Role::kFollower || m.from != leader_ || m.ballot != follower_ballot_ || !KnownVoter(cfg_.id)) return;
  transfer_from_ = follower_ballot_;
  StartElection();
}

std::map<NodeId, Node::Progress> Node::progress() const {
  std::map<NodeId, Progress> out;
  if (role_ != Role::kLeader) return out;
  for (const auto& [id, p] : peers_) out[id] = Progress{p.match, p.heard_at};
  return out;
}

}  // namespace kvgo::consensus
