// Node: what each peer message does (Step dispatches here). The rules and
// the paper sections behind them are in paxos.h and docs/consensus.md.
#include <algorithm>

#include "consensus/paxos.h"

namespace kvgo::consensus {

void Node::OnPreVote(const Message& m) {
  Message r;
  r.type = MsgType::kPreVoteReply;
  r.to = m.from;
  r.ballot = m.ballot;
  r.promised = promised_;
  r.ok = MayVoteFor(m) && !HeardFromLeaderRecently() && m.ballot > promised_ && m.first_slot > compacted_;
  Send(std::move(r));
}

void Node::OnPreVoteReply(const Message& m) {
  if (role_ != Role::kPreCandidate || m.ballot != my_ballot_) return;
  if (!m.ok) return;
  votes_[m.from] = true;
  if (QuorumsOf(Governing(log_), votes_)) StartElection();
}

void Node::OnPrepare(const Message& m) {
  Message r;
  r.type = MsgType::kPromise;
  r.to = m.from;
  r.ballot = m.ballot;
  // A node still following a live leader does not help depose it, unless
  // that leader handed over to the candidate (TimeoutNow; the leader gave
  // up its lease first). A node that restarted within an election timeout
  // may have granted a lease it forgot: it refuses either way.
  const Ballot live = role_ == Role::kLeader ? my_ballot_ : follower_ballot_;
  const bool handed_over =
      m.transfer && m.promised == live && quiet_ticks_ == 0 && (role_ != Role::kLeader || lease_off_);
  const bool live_leader = HeardFromLeaderRecently() && leader_ != m.from && !handed_over;
  // A candidate that has not even learned what this node compacted (chosen
  // values it could not re-propose) must catch up before it leads.
  const bool behind = m.first_slot <= compacted_;
  if (m.ballot < promised_ || (m.ballot > promised_ && (live_leader || behind || !MayVoteFor(m)))) {
    r.ok = false;
    r.promised = promised_;
    Send(std::move(r));
    return;
  }
  if (m.ballot > promised_) {
    Promise(m.ballot);
    if (role_ != Role::kFollower || follower_ballot_ != m.ballot) BecomeFollower(m.ballot, 0);
  }
  r.ok = true;
  r.promised = promised_;
  r.commit = commit_;
  // Every value this node accepted from first_slot on, in parts of at most
  // max_bytes_per_message: the candidate counts the vote only once it holds
  // all of them (any may be lost or reordered on the way).
  std::vector<std::vector<Entry>> parts(1);
  size_t bytes = 0;
  for (auto it = log_.lower_bound(m.first_slot); it != log_.end(); ++it) {
    const size_t size = it->second.value().size();
    if (!parts.back().empty() && bytes + size > cfg_.max_bytes_per_message) {
      parts.emplace_back();
      bytes = 0;
    }
    bytes += size;
    parts.back().push_back(it->second);
  }
  r.parts = static_cast<uint32_t>(parts.size());
  for (size_t i = 0; i < parts.size(); i++) {
    Message part = r;
    part.seq = i;
    part.entries = std::move(parts[i]);
    Send(std::move(part));
  }
}

void Node::OnPromise(const Message& m) {
  if (role_ != Role::kCandidate || m.ballot != my_ballot_) return;
  if (!m.ok) {
    if (m.promised > my_ballot_) BecomeFollower(m.promised, 0);
    return;
  }
  if (votes_.count(m.from)) return;  // duplicate
  // Malformed (a promise has far fewer parts: the log it reports is bounded).
  if (m.parts == 0 || m.parts > (1u << 16) || m.seq >= m.parts) return;
  // Values from parts of a promise that never completes are still safe to
  // consider: the highest-ballot value among any superset of a quorum's
  // reports is the one Phase 1 must choose (Paxos Made Simple, P2c).
  for (const Entry& e : m.entries) {
    if (e.slot < phase1_from_) continue;
    auto it = recovered_.find(e.slot);
    if (it == recovered_.end() || it->second.ballot < e.ballot) recovered_[e.slot] = e;
  }
  if (m.parts > 1) {
    std::vector<bool>& got = promise_parts_[m.from];
    if (got.size() != m.parts) got.assign(m.parts, false);
    got[m.seq] = true;
    if (std::find(got.begin(), got.end(), false) != got.end()) return;
    promise_parts_.erase(m.from);
  }
  votes_[m.from] = true;
  SendPrepares();
  if (QuorumsOf(Governing(recovered_), votes_)) BecomeLeader();
}

void Node::OnAccept(const Message& m) {
  Message r;
  r.type = MsgType::kAccepted;
  r.to = m.from;
  r.ballot = m.ballot;
  if (m.ballot < promised_) {
    r.ok = false;
    r.promised = promised_;
    Send(std::move(r));
    return;
  }
  Promise(m.ballot);
  if (role_ != Role::kFollower || leader_ != m.from || follower_ballot_ != m.ballot) {
    BecomeFollower(m.ballot, m.from);
  }
  ticks_since_leader_ = 0;
  election_elapsed_ = 0;
  r.promised = promised_;
  if (!m.entries.empty() && m.first_slot > trusted_ + 1) {
    // A gap: earlier Accepts of this ballot were lost. Ask for a resend.
    r.ok = false;
    r.last_slot = trusted_;
    Send(std::move(r));
    return;
  }
  for (const Entry& e : m.entries) {
    if (e.slot <= commit_) continue;  // already chosen here
    Entry copy = e;
    copy.ballot = m.ballot;
    AcceptLocal(std::move(copy));
    trusted_ = std::max(trusted_, e.slot);
  }
  SetCommit(std::min(m.commit, trusted_));
  r.ok = true;
  r.last_slot = trusted_;
  r.heartbeat = m.heartbeat;
  r.seq = m.seq;
  Send(std::move(r));
}

void Node::OnAccepted(const Message& m) {
  if (role_ != Role::kLeader || m.ballot != my_ballot_) {
    if (!m.ok && m.promised > promised_ && role_ == Role::kLeader) BecomeFollower(m.promised, 0);
    return;
  }
  auto it = peers_.find(m.from);
  if (it == peers_.end()) return;
  // An ack of slots this leader never proposed comes from no honest
  // acceptor of its ballot (a snapshot installed from another sender, say):
  // counting it could choose values that only this node holds.
  if (m.last_slot >= next_slot_) return;
  Peer& p = it->second;
  p.active = true;
  p.heard_at = now_;
  if (!m.ok && m.promised > my_ballot_) {
    BecomeFollower(m.promised, 0);
    return;
  }
  // match only grows: what a peer accepted in our ballot is durable there.
  p.match = std::max(p.match, m.last_slot);
  if (m.ok && m.seq > p.acked_seq) {
    p.acked_seq = m.seq;
    AdvanceReads();
  }
  if (!m.ok) {
    // A gap: resend from what the peer holds, even below match (a restarted
    // peer may trust less than it holds).
    p.next = m.last_slot + 1;
  } else if (p.next <= m.last_slot) {
    // The peer already holds more than we were about to send (a snapshot,
    // or acks of a pipeline we rewound).
    p.next = m.last_slot + 1;
  } else if (m.heartbeat && m.last_slot + 1 < p.next) {
    // A heartbeat's ack behind what we sent: Accepts were lost (or are
    // still in flight); resend from there. Only heartbeats rewind, so a
    // pipeline in flight is resent at most once per heartbeat interval.
    p.next = m.last_slot + 1;
  }
  if (m.last_slot > compacted_) p.snapshot_at = -1;  // caught up past our log's start
  AdvanceCommit();
  if (role_ != Role::kLeader) return;
  if (p.next <= SendLimit()) SendAccepts(m.from, false);
  if (m.from == transfer_to_) MaybeSendTimeoutNow();
  Settle();  // last: it may step down (and clear peers_, p with them)
}

}  // namespace kvgo::consensus
