// The Multi-Paxos core: a deterministic state machine with no I/O (no
// threads, clock, sockets, disk or global random generator), in the style
// of etcd-io/raft. The caller feeds it Tick(), Step(message) and
// Propose(data), takes a Ready batch, does the I/O in the order the batch
// prescribes, and calls Advance(). Design: docs/replication.md.
//
// Multi-Paxos with a stable leader (Lamport, "Paxos Made Simple" s.3; van
// Renesse & Altinbuken, "Paxos Made Moderately Complex"):
// - Ballots (round, node id) are totally ordered and never reused.
// - A candidate runs Phase 1 once for every slot from its first unchosen
//   one; it re-proposes, under its own ballot, the highest-ballot value
//   reported for each slot (a no-op where none was), then appends a no-op
//   of its own.
// - The leader then runs only Phase 2: pipelined, batched Accepts carrying
//   the commit index; followers ack cumulatively (the highest slot up to
//   which everything is accepted in the leader's ballot).
// - A value is chosen when a majority accepted it in the same ballot.
// - PreVote: a node asks before it raises its ballot, and nodes that heard
//   from a leader within the election timeout refuse; so a node cut off and
//   rejoining does not disturb a working leader. CheckQuorum: a leader that
//   heard from no majority within the election timeout steps down.
//
// Reads: Read(id) hands back the index a linearizable read must wait for,
// at once under the leader's lease (granted by a majority's acks of a
// heartbeat round, shortened by a drift margin; followers refuse to vote
// while they hear from the leader, and for an election timeout after a
// restart), else after a heartbeat round (read-index).
//
// Log truncation: Compact(); a peer that needs compacted entries is listed
// in Ready::snapshots, and SnapshotInstalled() resumes it.
//
// Membership (docs/consensus.md, "Membership changes"): voters and
// learners, changed one voter at a time through configuration entries in
// the log. A configuration entry chosen in slot j governs the slots after
// j; the leader sends nothing after an unchosen configuration entry, and a
// candidate needs a quorum of every configuration its Phase 1 range may be
// governed by. Learners receive the log and never count in a quorum.
// Leadership transfer: the leader brings the target up to date and tells
// it to campaign at once (Raft thesis 3.10).
//
// Every message carries the cluster id; a node drops messages of other
// clusters, and grants votes only to voters of a configuration it knows.
//
// Exactly-once client sessions are a state machine concern: commands carry
// (client_id, seq) and the state machine skips a seq it applied (see the
// simulator).
//
// Not thread-safe: one thread drives a Node.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kvgo::consensus {

using NodeId = uint32_t;
using Slot = uint64_t;

struct Ballot {
  uint64_t round = 0;
  NodeId node = 0;

  bool IsZero() const { return round == 0 && node == 0; }
  friend bool operator<(const Ballot& a, const Ballot& b) {
    return a.round != b.round ? a.round < b.round : a.node < b.node;
  }
  friend bool operator==(const Ballot& a, const Ballot& b) { return a.round == b.round && a.node == b.node; }
  friend bool operator!=(const Ballot& a, const Ballot& b) { return !(a == b); }
  friend bool operator<=(const Ballot& a, const Ballot& b) { return !(b < a); }
  friend bool operator>(const Ballot& a, const Ballot& b) { return b < a; }
  friend bool operator>=(const Ballot& a, const Ballot& b) { return !(a < b); }
  std::string ToString() const;
};

// Who takes part: voters form quorums, learners only receive the log. Both
// lists are sorted and disjoint.
struct Membership {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool IsVoter(NodeId id) const;
  bool Contains(NodeId id) const;
  size_t Quorum() const { return voters.size() / 2 + 1; }
  // Sorts both lists (and drops duplicates).
  void Normalize();
  std::string ToString() const;
  friend bool operator==(const Membership& a, const Membership& b) {
    return a.voters == b.voters && a.learners == b.learners;
  }
  friend bool operator!=(const Membership& a, const Membership& b) { return !(a == b); }
};

// Why `next` may not follow `current` as one membership change: empty if it
// may. One change is one voter added, removed, promoted from learner or
// demoted to learner, or any change of learners alone; at least one voter
// must remain.
std::string CheckMembershipChange(const Membership& current, const Membership& next);

// A value accepted for a slot, and the ballot it was accepted in. The
// payload is shared and immutable: entries are copied between the log,
// messages and Ready batches without copying their bytes.
struct Entry {
  Slot slot = 0;
  Ballot ballot;
  bool noop = false;
  std::shared_ptr<const std::string> data;  // opaque to the core; null for no-ops
  // Non-null: a configuration entry. Once chosen, it governs every later
  // slot (until the next one) if it TakesEffect; its data is the
  // proposer's context (opaque to the core; null if none).
  std::shared_ptr<const Membership> config;
  // The slot of the membership the change was computed from (see
  // TakesEffect).
  Slot config_base = 0;

  const std::string& value() const {
    static const std::string kEmpty;
    return data ? *data : kEmpty;
  }
};

enum class MsgType {
  kPreVote,       // ballot = the ballot the sender would use
  kPreVoteReply,  // ok = granted
  kPrepare,       // ballot, first_slot
  kPromise,       // ok, ballot (the one promised), promised (if !ok), entries >= first_slot,
                  // in `parts` messages (seq = this one's index): a vote counts once all arrived
  kAccept,        // ballot, first_slot, entries (may be empty: heartbeat), commit
  kAccepted,      // ok, ballot, last_slot (cumulative ack), promised (if !ok)
  kTimeoutNow,    // ballot (the leader's): the leader hands over; campaign now
};
const char* MsgTypeName(MsgType t);

struct Message {
  MsgType type = MsgType::kAccept;
  NodeId from = 0;
  NodeId to = 0;
  uint64_t cluster_id = 0;
  uint64_t members_hash = 0;  // of the sender's voters: for older versions, which drop other lists
  Ballot ballot;
  Ballot promised;
  bool ok = false;
  Slot first_slot = 0;
  Slot last_slot = 0;
  Slot commit = 0;
  bool heartbeat = false;  // Accept: sent on the heartbeat timer; echoed in Accepted
  uint64_t seq = 0;        // Accept: the leader's heartbeat round; echoed in Accepted. Promise: part index
  uint32_t parts = 1;      // Promise: how many messages carry this promise's entries
  bool transfer = false;   // PreVote/Prepare: a leadership transfer; voters ignore the live leader
  std::vector<Entry> entries;
  std::string ToString() const;
};

// What must be durable. The promise is the acceptor's only state besides
// its accepted entries.
struct HardState {
  Ballot promised;
};

struct Config {
  NodeId id = 0;
  // The voters of a new cluster (bootstrap), used when Restored carries no
  // membership.
  std::vector<NodeId> members;
  uint64_t cluster_id = 0;
  int heartbeat_ticks = 1;
  // A follower starts an election after [election_ticks, 2*election_ticks)
  // ticks without a leader (randomised by `seed`).
  int election_ticks = 10;
  uint64_t seed = 1;
  size_t max_entries_per_accept = 256;
  // Entry payload bytes per Accept and per Promise part, at most; an entry
  // larger than this travels alone. So every message stays within the
  // transport's limit whatever the log holds (the caller bounds a single
  // entry's size).
  size_t max_bytes_per_message = 4 << 20;
  // The leader's lease ends this many ticks before the followers' election
  // timeout, to cover clock drift between nodes.
  int lease_margin_ticks = 2;
  // Entries sent to a follower and not yet acked, at most.
  size_t max_inflight_entries = 4096;
  // TESTING ONLY: vote for candidates while still hearing from a leader,
  // which breaks the lease. The simulator proves it catches this.
  bool testing_vote_despite_live_leader = false;
  // TESTING ONLY: treat a Ready's writes as durable as soon as it is handed
  // out (count its own votes at once, send Promise/Accepted and apply
  // without waiting for Advance), which loses chosen values when a node
  // crashes between sending and persisting. The simulator proves it
  // catches this.
  bool testing_count_unpersisted = false;
  // TESTING ONLY: the leader counts learners' acks toward its voters'
  // quorum; membership changes skip their checks (several voters at once,
  // one while another is not chosen, one computed from another membership:
  // TakesEffect). The simulator proves it catches both.
  bool testing_learners_count = false;
  bool testing_unchecked_membership = false;
};

// A linearizable read may be served once the state machine applied up to
// `index` (read-index, or the leader's lease).
struct ReadState {
  uint64_t id = 0;
  Slot index = 0;
};

// The work the caller must do, then call Advance(). Every step may be done
// in any order, and steps may overlap (send while the disk writes): the
// core hands out nothing whose truth depends on this Ready's own writes.
// ProcessReady (ready.h) is the one order production and the simulator
// use.
// - hard_state, entries: persist durably (fsync); each entry replaces
//   whatever its slot held. Until Advance() the core treats them as not
//   durable: it counts neither its own promise (a candidate's vote) nor its
//   own acceptance (a leader's vote) in them, and holds back every Promise
//   and Accepted (they assert what is on disk) until the Advance() after
//   the Ready that carries what they assert.
// - messages: send. None asserts state that is not yet durable, and an
//   Accept's commit index never exceeds what this node applied in Readies
//   already advanced (a follower must never serve a write, to a read that
//   then returns, that the leader, serving from its lease, could still
//   miss).
// - committed: apply, in slot order. Every one is already durable in this
//   node's log (persisted in an advanced Ready).
// - reads, snapshots, unknown: see each field.
struct Ready {
  std::optional<HardState> hard_state;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Entry> committed;
  std::vector<ReadState> reads;  // serve each once applied >= its index
  // Send a snapshot of the state machine (at its applied slot) to each
  //    of these peers: their next slot is below this node's compacted log.
  std::vector<NodeId> snapshots;
  // Answer "unknown" for these slots' proposals: this node stopped
  //    leading before they were chosen; a later leader may still choose
  //    them (clients retry with the same (client_id, seq)) or fill the
  //    slot with something else. Never "failed".
  std::vector<Slot> unknown;
  bool Empty() const {
    return !hard_state && entries.empty() && messages.empty() && committed.empty() && reads.empty() &&
           snapshots.empty() && unknown.empty();
  }
};

// What a restarted node had on disk.
struct Restored {
  HardState hard_state;
  std::map<Slot, Entry> entries;
  Slot applied = 0;    // entries up to here are applied (the state machine knows)
  Slot compacted = 0;  // entries up to here were dropped (<= applied)
  // The membership as of `applied` (the state machine keeps it); none:
  // Config::members as voters. A node that joins gets the one of the node
  // it joins through, as of `membership_slot` (its configuration entry's
  // slot, or the slot of the snapshot that carried it): configuration
  // entries up to that slot are older and change nothing.
  std::optional<Membership> membership;
  Slot membership_slot = 0;
};

// FNV-1a over the sorted member ids.
uint64_t MembersHash(std::vector<NodeId> members);

// Whether chosen entry `e` changes the membership of a node whose current
// one was set in slot `current` (0: bootstrap): a configuration entry
// after `current`, computed from that very membership. A change computed
// from another one (a new leader re-proposing an old leader's change into
// a history that moved on) changes nothing, on every node alike; so
// memberships change one step at a time. The state machine applies the
// same rule to the membership it keeps. (`unchecked`: TESTING ONLY, any
// configuration entry after `current` takes effect.)
bool TakesEffect(const Entry& e, Slot current, bool unchecked = false);

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);

class Node {
 public:
  Node(Config config, Restored restored);

  // One unit of logical time.
  void Tick();
  // A message from a peer. Messages of another cluster, or not addressed to
  // this node, are dropped.
  void Step(const Message& m);
  // Appends `data` to the log if this node is the leader. Returns the slot
  // it will be chosen in if it is chosen at all (a later leader may fill
  // the slot with something else), or 0 if this node is not the leader.
  Slot Propose(std::string data) { return Propose(std::make_shared<const std::string>(std::move(data))); }
  // The same with a shared payload: while the caller holds `data`, an entry
  // whose data is this very object is this proposal's value (a copy
  // recovered from a peer is another object).
  Slot Propose(std::shared_ptr<const std::string> data);

  // Asks for a linearizable read. On the leader (once LeaderReady) the read
  // comes back in Ready::reads: at once while the leader's lease holds,
  // else after a majority confirmed leadership (read-index). Returns false
  // on any other node: the caller forwards the read to the leader.
  bool Read(uint64_t id);
  // True while this node is the leader and no other node can be: a majority
  // acked it within the election timeout minus the drift margin.
  bool LeaseValid() const { return role_ == Role::kLeader && now_ < lease_until_; }
  // The tick (counted from this Node's creation) at which the lease ends;
  // 0 unless leader. A driver whose ticks never run ahead of real time may
  // turn it into a deadline on its monotonic clock.
  int64_t lease_until_tick() const { return role_ == Role::kLeader ? lease_until_ : 0; }
  int64_t now_tick() const { return now_; }

  // Log truncation: drops the entries up to `upto` (REQUIRES: upto <=
  // applied()); the caller drops them from its durable log too. A peer that
  // needs them later gets a snapshot instead (Ready::snapshots).
  void Compact(Slot upto);
  Slot compacted() const { return compacted_; }
  // The caller installed a snapshot of the state machine at `slot` (it
  // does so only when slot > applied()), sent by `from` (the leader that
  // asked for it), whose membership was `membership` as of
  // `membership_slot` (none: no membership change was ever chosen, this
  // node's stays): the log up to `slot` is dropped and replication resumes
  // after it.
  void SnapshotInstalled(Slot slot, NodeId from, std::optional<Membership> membership = std::nullopt,
                         Slot membership_slot = 0);

  // Proposes a membership change (CheckMembershipChange). Returns its slot,
  // or 0 with the reason in *why: not the leader, not LeaderReady (a new
  // leader first chooses a value of its own ballot), another change not yet
  // chosen, a leadership transfer under way, or a quorum of the new voters
  // (or of the current ones) not heard from within the election timeout.
  // Proposals made after it are held until it is chosen. `context` becomes
  // the entry's data.
  Slot ProposeMembership(Membership next, std::string* why, std::shared_ptr<const std::string> context = nullptr);
  // The membership governing the next unchosen slot.
  const Membership& membership() const { return members_; }
  // The slot as of which membership() holds (see Restored).
  Slot membership_slot() const { return members_slot_; }
  // A change proposed or accepted and not yet known to be chosen (null if
  // none): the one in the lowest such slot.
  const Membership* pending_membership() const;
  bool IsVoter() const { return members_.IsVoter(cfg_.id); }
  // Leader: false while its last membership change is chosen but not yet
  // known chosen to a quorum of the new voters (who could not elect a
  // leader without the old ones until they know). A leader that removed
  // itself leads on until then, then hands over and steps down; the caller
  // reports a change done once this holds.
  bool MembershipSettled() const { return role_ != Role::kLeader || !settling_; }

  // Leader: hands leadership to voter `to` within an election timeout (new
  // proposals are refused meanwhile; the lease ends at once). Returns false
  // with the reason in *why if it cannot start.
  bool TransferLeadership(NodeId to, std::string* why);
  NodeId transfer_target() const { return transfer_to_; }

  // Leader: what it knows of each other member (voter or learner).
  struct Progress {
    Slot match = 0;         // every slot <= match is accepted there in our ballot
    int64_t heard_at = -1;  // local tick of its last message (-1: never)
  };
  std::map<NodeId, Progress> progress() const;

  bool HasReady() const;
  // The pending work; the caller must do it and then call Advance() before
  // the next GetReady(). Step, Tick, Propose and Read may be called in
  // between.
  Ready GetReady();
  // The last Ready is done: its writes are durable and its committed
  // entries applied. Releases what waited for them; HasReady() may turn
  // true.
  void Advance();

  Role role() const { return role_; }
  NodeId id() const { return cfg_.id; }
  NodeId leader() const { return leader_; }
  const Ballot& promised() const { return promised_; }
  Slot commit() const { return commit_; }
  Slot applied() const { return applied_; }
  Slot last_slot() const { return log_.empty() ? commit_ : log_.rbegin()->first; }
  // Leader: the slot its next proposal gets.
  Slot next_slot() const { return next_slot_; }
  // True once the leader's own no-op of its ballot is chosen: from then on
  // its log holds every value chosen before, and it may serve.
  bool LeaderReady() const { return role_ == Role::kLeader && ready_slot_ > 0 && commit_ >= ready_slot_; }

 private:
  // The memberships that may govern slots from commit_+1 on, as far as
  // `log` shows: the current one, then each configuration entry of `log`
  // after ConfigFloor() that would take effect after the previous one, in
  // slot order, with their slots.
  std::vector<std::pair<Slot, const Membership*>> Chain(const std::map<Slot, Entry>& log) const;
  std::vector<const Membership*> Governing(const std::map<Slot, Entry>& log) const;
  // True if `ids` hold a quorum of the voters of each of `configs`.
  static bool QuorumsOf(const std::vector<const Membership*>& configs, const std::map<NodeId, bool>& ids);
  // Configuration entries up to this slot are chosen and taken up (or
  // older than what this node was given on joining).
  Slot ConfigFloor() const { return std::max(commit_, members_slot_); }
  // The lowest slot after ConfigFloor() that holds a configuration entry
  // that would take effect (0: none).
  Slot PendingConfigSlot() const;
  // Leader: starts the heartbeat round that tells the new voters the
  // change is chosen, once the commit index to announce covers it; ends
  // settling once a quorum of them acked it.
  void Settle();
  // The last slot the leader may send now: nothing after an unchosen
  // configuration entry.
  Slot SendLimit() const;
  // Raises commit_ to `c`, taking up each configuration entry it passes.
  void SetCommit(Slot c);
  void OnMembershipChosen();
  // Leader: a Peer (sent from `next` on) for every member of every
  // governing membership; those of none are dropped after a farewell.
  void RefreshPeers(Slot next);
  // True if `from` is a voter of a membership this node knows.
  bool KnownVoter(NodeId from) const;
  // Votes go to known voters, and to candidates that know more of the
  // chosen log than this node (their first unchosen slot is later): they
  // may be voters of a change this node missed. A removed node that missed
  // its removal knows less than the nodes that know of it.
  bool MayVoteFor(const Message& m) const { return KnownVoter(m.from) || m.first_slot > commit_ + 1; }
  void OnTimeoutNow(const Message& m);
  void MaybeSendTimeoutNow();
  uint64_t Random();
  void ResetElectionTimer();
  void BecomeFollower(const Ballot& seen, NodeId leader);
  void StartPreVote();
  void StartElection();
  void SendPrepares();
  void BecomeLeader();
  void Send(Message m);
  void Promise(const Ballot& b);  // raises the durable promise
  void AcceptLocal(Entry e);      // stores an accepted entry (to persist)
  void SendAccepts(NodeId peer, bool heartbeat);
  void BroadcastAccepts(bool heartbeat);
  void AdvanceCommit();
  void AdvanceReads();
  // The lowest slot this node accepted but has not yet seen persisted (0
  // when everything is durable).
  Slot LowestUnstable() const;
  // The highest slot a Ready may hand out as committed now.
  Slot Committable() const;
  // The commit index an Accept may carry: applied in advanced Readies.
  Slot CommitToAnnounce() const { return std::min(commit_, announced_); }

  bool HeardFromLeaderRecently() const;
  void StartHeartbeatRound();
  void OnPreVote(const Message& m);
  void OnPreVoteReply(const Message& m);
  void OnPrepare(const Message& m);
  void OnPromise(const Message& m);
  void OnAccept(const Message& m);
  void OnAccepted(const Message& m);

  Config cfg_;
  uint64_t rng_;
  Membership members_;  // governs commit_+1 (chosen in members_slot_; 0: bootstrap or snapshot)
  Slot members_slot_ = 0;

  // Durable (through Ready).
  Ballot promised_;
  std::map<Slot, Entry> log_;
  std::set<Slot> config_slots_;  // the slots of log_ that hold configuration entries

  // Volatile.
  int64_t now_ = 0;              // local ticks since start
  int quiet_ticks_ = 0;          // after a (re)start: no votes for an election timeout
  uint64_t max_seen_round_ = 0;  // the highest ballot round seen anywhere
  Role role_ = Role::kFollower;
  Ballot follower_ballot_;  // the ballot trusted_ is counted in
  NodeId leader_ = 0;
  Slot commit_ = 0;     // every slot <= commit_ is chosen and in log_ (or applied)
  Slot compacted_ = 0;  // log_ holds no slot <= compacted_
  Slot applied_ = 0;    // handed out in Ready.committed
  // Follower: every slot in (commit_, trusted_] holds an entry accepted in
  // the current leader's ballot, so it may be committed up to the leader's
  // commit index.
  Slot trusted_ = 0;
  int ticks_since_leader_ = 0;  // follower: ticks since a valid Accept
  int election_elapsed_ = 0;
  int election_timeout_ = 0;
  int heartbeat_elapsed_ = 0;

  // Candidate / pre-candidate.
  Ballot my_ballot_;
  Ballot transfer_from_;  // a campaign the leader of this ballot asked for (TimeoutNow); zero if not
  std::map<NodeId, bool> votes_;
  std::set<NodeId> asked_;                             // candidate: voters sent a Prepare
  std::map<NodeId, std::vector<bool>> promise_parts_;  // candidate: parts received per acceptor
  std::map<Slot, Entry> recovered_;                    // highest-ballot value per slot from promises
  Slot phase1_from_ = 0;

  // Leader.
  struct Peer {
    Slot next = 0;             // next slot to send
    Slot match = 0;            // every slot <= match is accepted in our ballot
    bool active = false;       // heard from since the last CheckQuorum round
    uint64_t acked_seq = 0;    // highest heartbeat round acked
    int64_t snapshot_at = -1;  // when a snapshot was last asked for (-1 = none)
    int64_t heard_at = -1;     // local tick of its last Accepted
    int64_t farewell = -1;     // removed: the tick after which it gets nothing more
  };
  std::map<NodeId, Peer> peers_;
  Slot next_slot_ = 0;
  Slot ready_slot_ = 0;                      // the leader's own no-op
  bool dirty_ = false;                       // proposals not yet sent
  uint64_t hb_seq_ = 0;                      // heartbeat round
  std::map<uint64_t, int64_t> seq_sent_at_;  // round -> local tick it started
  int64_t lease_until_ = 0;
  bool lease_off_ = false;   // a TimeoutNow went out in this ballot: no lease any more
  bool settling_ = false;    // see MembershipSettled()
  uint64_t settle_seq_ = 0;  // the heartbeat round that announces the change (0: not yet)
  struct PendingRead {
    uint64_t id;
    Slot index;
    uint64_t seq;
  };
  std::vector<PendingRead> pending_reads_;
  std::vector<ReadState> ready_reads_;
  std::vector<NodeId> ready_snapshots_;
  std::vector<Slot> ready_unknown_;
  int quorum_elapsed_ = 0;
  NodeId transfer_to_ = 0;  // leadership transfer under way to this voter
  int transfer_elapsed_ = 0;
  bool transfer_sent_ = false;  // its TimeoutNow went out

  // Pending output.
  std::optional<HardState> pending_hard_;
  std::map<Slot, Entry> pending_entries_;
  std::vector<Message> pending_msgs_;
  // Promise/Accepted messages waiting for state to be durable: for what is
  // still pending (handed out by the next GetReady), and for what the last
  // Ready handed out (released by Advance).
  std::vector<Message> held_for_pending_;
  std::vector<Message> held_for_handed_;

  // The Ready handed out and not yet advanced.
  bool handed_out_ = false;
  Slot handed_min_slot_ = 0;  // its lowest entry (0: none)
  std::optional<HardState> handed_hard_;
  Ballot durable_promised_;  // the promise as of the last Advance
  Slot announced_ = 0;       // applied as of the last Advance
};

}  // namespace kvgo::consensus
