#include "consensus/paxos.h"

#include <algorithm>
#include <sstream>

namespace kvgo::consensus {

std::string Ballot::ToString() const { return "(" + std::to_string(round) + "," + std::to_string(node) + ")"; }

const char* MsgTypeName(MsgType t) {
  switch (t) {
    case MsgType::kPreVote:
      return "PreVote";
    case MsgType::kPreVoteReply:
      return "PreVoteReply";
    case MsgType::kPrepare:
      return "Prepare";
    case MsgType::kPromise:
      return "Promise";
    case MsgType::kAccept:
      return "Accept";
    case MsgType::kAccepted:
      return "Accepted";
    case MsgType::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

std::string Message::ToString() const {
  std::ostringstream o;
  o << MsgTypeName(type) << " " << from << "->" << to << " b=" << ballot.ToString();
  if (type == MsgType::kPromise || type == MsgType::kAccepted || type == MsgType::kPreVoteReply) {
    o << (ok ? " ok" : " NO") << " promised=" << promised.ToString();
  }
  if (first_slot) o << " first=" << first_slot;
  if (last_slot) o << " last=" << last_slot;
  if (commit) o << " commit=" << commit;
  if (!entries.empty())
    o << " n=" << entries.size() << " [" << entries.front().slot << ".." << entries.back().slot << "]";
  return o.str();
}

uint64_t MembersHash(std::vector<NodeId> members) {
  std::sort(members.begin(), members.end());
  uint64_t h = 1469598103934665603ull;
  for (NodeId id : members) {
    for (int i = 0; i < 4; i++) {
      h ^= (id >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  }
  return h;
}

Node::Node(Config config, Restored restored)
    : cfg_(std::move(config)),
      rng_(cfg_.seed * 0x9E3779B97F4A7C15ull + cfg_.id + 1),
      promised_(restored.hard_state.promised),
      log_(std::move(restored.entries)),
      commit_(restored.applied),
      applied_(restored.applied),
      trusted_(restored.applied),
      durable_promised_(restored.hard_state.promised),
      announced_(restored.applied) {
  compacted_ = std::min(restored.compacted, restored.applied);
  if (restored.membership) {
    members_ = std::move(*restored.membership);
    members_slot_ = restored.membership_slot;
  } else {
    members_.voters = cfg_.members;
  }
  members_.Normalize();
  for (const auto& [slot, e] : log_) {
    if (e.config) config_slots_.insert(slot);
  }
  max_seen_round_ = promised_.round;
  // A node that (re)starts may have granted a lease it no longer remembers:
  // it votes for nobody during one election timeout.
  quiet_ticks_ = cfg_.election_ticks;
  ResetElectionTimer();
}

uint64_t Node::Random() {
  // splitmix64: deterministic from the seed, no global state.
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Node::ResetElectionTimer() {
  election_elapsed_ = 0;
  election_timeout_ = cfg_.election_ticks + static_cast<int>(Random() % cfg_.election_ticks);
}

void Node::Send(Message m) {
  m.from = cfg_.id;
  m.cluster_id = cfg_.cluster_id;
  m.members_hash = MembersHash(members_.voters);
  // A Promise or Accepted asserts this node's durable state (its promise,
  // the entries it acked): it waits until everything not yet durable is.
  const bool asserts_disk = m.type == MsgType::kPromise || m.type == MsgType::kAccepted;
  if (!asserts_disk || cfg_.testing_count_unpersisted) {
    pending_msgs_.push_back(std::move(m));
  } else if (pending_hard_ || !pending_entries_.empty() || !held_for_pending_.empty()) {
    held_for_pending_.push_back(std::move(m));
  } else if (handed_out_) {
    held_for_handed_.push_back(std::move(m));
  } else {
    pending_msgs_.push_back(std::move(m));
  }
}

void Node::Promise(const Ballot& b) {
  if (b <= promised_) return;
  promised_ = b;
  max_seen_round_ = std::max(max_seen_round_, b.round);
  pending_hard_ = HardState{promised_};
}

void Node::AcceptLocal(Entry e) {
  if (e.config) {
    config_slots_.insert(e.slot);
  } else {
    config_slots_.erase(e.slot);
  }
  pending_entries_[e.slot] = e;
  log_[e.slot] = std::move(e);
}

void Node::Tick() {
  now_++;
  if (quiet_ticks_ > 0) quiet_ticks_--;
  if (role_ == Role::kLeader) {
    if (++heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      StartHeartbeatRound();
      BroadcastAccepts(/*heartbeat=*/true);
    }
    if (transfer_to_ != 0 && ++transfer_elapsed_ >= cfg_.election_ticks) transfer_to_ = 0;  // gave up
    for (auto it = peers_.begin(); it != peers_.end();) {
      it = it->second.farewell >= 0 && now_ > it->second.farewell ? peers_.erase(it) : std::next(it);
    }
    // CheckQuorum: step down if no majority (of every governing
    // membership) was heard from for a timeout.
    if (++quorum_elapsed_ >= cfg_.election_ticks) {
      quorum_elapsed_ = 0;
      std::map<NodeId, bool> active = {{cfg_.id, true}};
      for (auto& [id, p] : peers_) {
        active[id] = p.active;
        p.active = false;
      }
      if (!QuorumsOf(Governing(log_), active)) BecomeFollower(my_ballot_, 0);
    }
    Settle();
    return;
  }
  ticks_since_leader_++;
  if (++election_elapsed_ >= election_timeout_) {
    // Learners and removed nodes never campaign. A voter of a membership
    // not yet known to be chosen does: the leader that chose it may be
    // gone (a removed leader steps down at once), and Phase 1 needs a
    // quorum of every governing membership anyway.
    if (KnownVoter(cfg_.id)) {
      StartPreVote();
    } else {
      ResetElectionTimer();
    }
  }
}

void Node::BecomeFollower(const Ballot& b, NodeId leader) {
  if (role_ == Role::kLeader) {
    // Proposals not chosen yet: their fate is unknown from here.
    for (Slot s = commit_ + 1; s < next_slot_; s++) {
      auto it = log_.find(s);
      if (it != log_.end() && !it->second.noop) ready_unknown_.push_back(s);
    }
  }
  lease_until_ = 0;
  transfer_to_ = 0;
  transfer_from_ = Ballot{};
  pending_reads_.clear();  // their callers time out and retry elsewhere
  if (role_ != Role::kFollower || b != follower_ballot_) {
    // Entries this node accepted in ballot b (before a restart, say) came
    // from b's only leader, one value per slot: they stay trusted.
    trusted_ = commit_;
    for (auto it = log_.upper_bound(commit_); it != log_.end() && it->first == trusted_ + 1 && it->second.ballot == b;
         ++it) {
      trusted_ = it->first;
    }
  }
  role_ = Role::kFollower;
  follower_ballot_ = b;
  leader_ = leader;
  votes_.clear();
  promise_parts_.clear();
  recovered_.clear();
  peers_.clear();
  ResetElectionTimer();
}

void Node::StartPreVote() {
  role_ = Role::kPreCandidate;
  leader_ = 0;
  my_ballot_ = Ballot{std::max(promised_.round, max_seen_round_) + 1, cfg_.id};
  transfer_from_ = Ballot{};
  votes_.clear();
  votes_[cfg_.id] = true;
  ResetElectionTimer();
  const auto governing = Governing(log_);
  if (QuorumsOf(governing, votes_)) return StartElection();
  std::set<NodeId> voters;
  for (const Membership* c : governing) voters.insert(c->voters.begin(), c->voters.end());
  for (NodeId peer : voters) {
    if (peer == cfg_.id) continue;
    Message m;
    m.type = MsgType::kPreVote;
    m.to = peer;
    m.ballot = my_ballot_;
    m.first_slot = commit_ + 1;
    Send(std::move(m));
  }
}

void Node::StartElection() {
  role_ = Role::kCandidate;
  leader_ = 0;
  my_ballot_ = Ballot{std::max(promised_.round, max_seen_round_) + 1, cfg_.id};
  Promise(my_ballot_);
  votes_.clear();
  asked_.clear();
  promise_parts_.clear();
  phase1_from_ = commit_ + 1;
  recovered_.clear();
  for (auto it = log_.lower_bound(phase1_from_); it != log_.end(); ++it) recovered_[it->first] = it->second;
  ResetElectionTimer();
  // This node's own vote counts once its promise is durable (Advance).
  if (cfg_.testing_count_unpersisted) {
    votes_[cfg_.id] = true;
    if (QuorumsOf(Governing(recovered_), votes_)) return BecomeLeader();
  }
  SendPrepares();
}

// Phase 1 needs a quorum of every membership that may govern a slot from
// phase1_from_ on: the current one, and each one a configuration entry
// among the values recovered so far would set (a chosen one is among them:
// P2c). So a Prepare goes to each voter of each as it comes to light.
void Node::SendPrepares() {
  for (const Membership* c : Governing(recovered_)) {
    for (NodeId peer : c->voters) {
      if (peer == cfg_.id || !asked_.insert(peer).second) continue;
      Message m;
      m.type = MsgType::kPrepare;
      m.to = peer;
      m.ballot = my_ballot_;
      m.first_slot = phase1_from_;
      if (!transfer_from_.IsZero()) {
        m.transfer = true;
        m.promised = transfer_from_;
      }
      Send(std::move(m));
    }
  }
}

void Node::BecomeLeader() {
  role_ = Role::kLeader;
  leader_ = cfg_.id;
  ticks_since_leader_ = 0;
  heartbeat_elapsed_ = 0;
  quorum_elapsed_ = 0;
  // Re-propose, under our ballot, the highest-ballot value reported for
  // every slot from phase1_from_ on, and a no-op where none was.
  Slot last = recovered_.empty() ? phase1_from_ - 1 : recovered_.rbegin()->first;
  for (Slot s = phase1_from_; s <= last; s++) {
    Entry e;
    e.slot = s;
    e.ballot = my_ballot_;
    if (auto it = recovered_.find(s); it != recovered_.end()) {
      e.noop = it->second.noop;
      e.data = it->second.data;
      e.config = it->second.config;
      e.config_base = it->second.config_base;
    } else {
      e.noop = true;
    }
    AcceptLocal(std::move(e));
  }
  recovered_.clear();
  // Our own no-op: once it is chosen we know every earlier chosen value.
  ready_slot_ = last + 1;
  AcceptLocal(Entry{ready_slot_, my_ballot_, true, nullptr, nullptr, 0});
  next_slot_ = ready_slot_ + 1;
  peers_.clear();
  RefreshPeers(phase1_from_);
  for (auto& [id, p] : peers_) p.active = true;
  transfer_to_ = 0;
  transfer_from_ = Ballot{};
  lease_off_ = false;
  settling_ = false;
  settle_seq_ = 0;
  lease_until_ = 0;
  pending_reads_.clear();
  StartHeartbeatRound();
  dirty_ = true;
  AdvanceCommit();
  AdvanceReads();
}

bool Node::Read(uint64_t id) {
  if (!LeaderReady()) return false;
  if (LeaseValid()) {
    ready_reads_.push_back(ReadState{id, commit_});
    return true;
  }
  // Read-index: the commit index now, once a majority acks a heartbeat
  // round started after this point.
  StartHeartbeatRound();
  pending_reads_.push_back(PendingRead{id, commit_, hb_seq_});
  BroadcastAccepts(/*heartbeat=*/true);
  AdvanceReads();  // a single node is its own majority
  return true;
}

// The highest heartbeat round acked by a majority extends the lease and
// releases the reads waiting for it.
void Node::AdvanceReads() {
  if (role_ != Role::kLeader) return;
  // The highest round a quorum of every governing membership acked.
  uint64_t confirmed = hb_seq_;
  for (const Membership* c : Governing(log_)) {
    std::vector<uint64_t> acked;
    for (NodeId v : c->voters) {
      auto it = peers_.find(v);
      acked.push_back(v == cfg_.id ? hb_seq_ : it == peers_.end() ? 0 : it->second.acked_seq);
    }
    std::sort(acked.begin(), acked.end(), std::greater<uint64_t>());
    confirmed = std::min(confirmed, acked[c->Quorum() - 1]);
  }
  if (auto it = seq_sent_at_.find(confirmed); !lease_off_ && it != seq_sent_at_.end()) {
    lease_until_ = std::max(lease_until_, it->second + cfg_.election_ticks - cfg_.lease_margin_ticks);
  }
  size_t kept = 0;
  for (auto& r : pending_reads_) {
    if (r.seq <= confirmed) {
      ready_reads_.push_back(ReadState{r.id, r.index});
    } else {
      pending_reads_[kept++] = r;
    }
  }
  pending_reads_.resize(kept);
}

Slot Node::Propose(std::shared_ptr<const std::string> data) {
  // A leader that removed itself takes nothing new while it hands over.
  if (role_ != Role::kLeader || transfer_to_ != 0 || (settling_ && !IsVoter())) return 0;
  const Slot s = next_slot_++;
  AcceptLocal(Entry{s, my_ballot_, false, std::move(data), nullptr, 0});
  dirty_ = true;
  return s;
}

void Node::SendAccepts(NodeId id, bool heartbeat) {
  Peer& p = peers_[id];
  const Slot last = SendLimit();
  if (p.next <= compacted_) {
    // The peer needs entries this node no longer has: ask the caller for a
    // snapshot (again if the last one got no answer for a while).
    if (p.snapshot_at < 0 || now_ - p.snapshot_at >= 3 * cfg_.election_ticks) {
      p.snapshot_at = now_;
      ready_snapshots_.push_back(id);
    }
    if (!heartbeat) return;
    // Keep the peer following us meanwhile.
    Message hb;
    hb.type = MsgType::kAccept;
    hb.to = id;
    hb.ballot = my_ballot_;
    hb.first_slot = p.next;
    hb.commit = CommitToAnnounce();
    hb.heartbeat = true;
    hb.seq = hb_seq_;
    Send(std::move(hb));
    return;
  }
  Message m;
  m.type = MsgType::kAccept;
  m.to = id;
  m.ballot = my_ballot_;
  m.first_slot = p.next;
  const bool window_open = p.next <= last && p.next - 1 - std::min(p.match, p.next - 1) < cfg_.max_inflight_entries;
  if (window_open) {
    size_t bytes = 0;
    for (Slot s = p.next; s <= last && m.entries.size() < cfg_.max_entries_per_accept; s++) {
      auto it = log_.find(s);
      if (it == log_.end()) break;  // cannot happen: the leader holds every slot <= last
      const size_t size = it->second.value().size();
      if (!m.entries.empty() && bytes + size > cfg_.max_bytes_per_message) break;
      bytes += size;
      Entry e = it->second;
      e.ballot = my_ballot_;  // chosen values below phase1_from_ are re-sent in our ballot
      m.entries.push_back(std::move(e));
    }
    p.next += m.entries.size();
  }
  if (m.entries.empty() && !heartbeat) return;
  m.commit = CommitToAnnounce();
  m.heartbeat = heartbeat;
  m.seq = hb_seq_;
  Send(std::move(m));
}

void Node::BroadcastAccepts(bool heartbeat) {
  for (auto& [id, p] : peers_) {
    SendAccepts(id, heartbeat);
    // Pipelining: keep sending while the window allows.
    while (p.next > compacted_ && p.next <= SendLimit() &&
           p.next - 1 - std::min(p.match, p.next - 1) < cfg_.max_inflight_entries) {
      const Slot before = p.next;
      SendAccepts(id, false);
      if (p.next == before) break;
    }
  }
  dirty_ = false;
}

void Node::AdvanceCommit() {
  // This node accepted everything it proposed; it counts what is durable.
  const Slot unstable = LowestUnstable();
  const Slot self = unstable == 0 ? next_slot_ - 1 : unstable - 1;
  while (role_ == Role::kLeader) {
    // Slots up to an unchosen configuration entry are counted among the
    // current voters; the slots after it among its voters, once it is
    // chosen (the loop goes round again).
    std::vector<Slot> matches;
    for (NodeId v : members_.voters) {
      auto it = peers_.find(v);
      matches.push_back(v == cfg_.id ? self : it == peers_.end() ? 0 : it->second.match);
    }
    if (cfg_.testing_learners_count) {
      for (NodeId v : members_.learners) {
        if (auto it = peers_.find(v); it != peers_.end()) matches.push_back(it->second.match);
      }
    }
    if (matches.empty()) return;
    std::sort(matches.begin(), matches.end(), std::greater<Slot>());
    Slot n = matches[members_.Quorum() - 1];
    if (const Slot fence = PendingConfigSlot()) n = std::min(n, fence);
    // Only slots accepted by a quorum in our own ballot are chosen by us;
    // peers' match counts only such slots (or slots they know are chosen).
    if (n <= commit_) return;
    const Slot before = members_slot_;
    SetCommit(n);
    if (members_slot_ == before) return;
  }
}

void Node::Step(const Message& m) {
  // Any member of the cluster may lead one this node does not know of yet
  // (a node that missed a membership change must still follow it); votes
  // go only to known voters (OnPreVote, OnPrepare).
  if (m.cluster_id != cfg_.cluster_id || m.to != cfg_.id || m.from == cfg_.id || m.from == 0) return;
  max_seen_round_ = std::max({max_seen_round_, m.ballot.round, m.promised.round});
  switch (m.type) {
    case MsgType::kPreVote:
      return OnPreVote(m);
    case MsgType::kPreVoteReply:
      return OnPreVoteReply(m);
    case MsgType::kPrepare:
      return OnPrepare(m);
    case MsgType::kPromise:
      return OnPromise(m);
    case MsgType::kAccept:
      return OnAccept(m);
    case MsgType::kAccepted:
      return OnAccepted(m);
    case MsgType::kTimeoutNow:
      return OnTimeoutNow(m);
  }
}

void Node::StartHeartbeatRound() {
  seq_sent_at_[++hb_seq_] = now_;
  while (seq_sent_at_.size() > 64) seq_sent_at_.erase(seq_sent_at_.begin());
}

bool Node::HeardFromLeaderRecently() const {
  if (cfg_.testing_vote_despite_live_leader && role_ != Role::kLeader) return false;
  if (role_ == Role::kLeader || quiet_ticks_ > 0) return true;
  return leader_ != 0 && ticks_since_leader_ < cfg_.election_ticks;
}

}  // namespace kvgo::consensus
