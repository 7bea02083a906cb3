#include "cluster_sim.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <tuple>

#include "consensus/ready.h"
#include "replication/apply_chain.h"

namespace kvgo::sim {

namespace {

using consensus::Ballot;
using consensus::Entry;
using consensus::Message;
using consensus::Node;
using consensus::NodeId;
using consensus::Slot;

constexpr int64_t kTimedOut = std::numeric_limits<int64_t>::max();
constexpr int64_t kQuietTicks = 60;
constexpr int64_t kClientTimeoutTicks = 40;

struct Disk {
  consensus::HardState hard;
  std::map<Slot, Entry> entries;
  Slot compacted = 0;
};

struct SimNode {
  NodeId id = 0;
  std::unique_ptr<Node> node;
  bool up = true;
  int stall = 0;  // slow disk: ticks before its next Ready is processed
  // A Ready handed out whose write has not completed yet (async_persist),
  // and the tick it completes at. Lost in a crash.
  std::optional<consensus::Ready> unpersisted;
  int64_t persist_at = 0;
  int drift = 0;  // clock drift: -1 slower, +1 faster
  Disk disk;      // survives crashes
  // The state machine, durable with its applied slot (as the KV store is).
  std::vector<Entry> applied;
  consensus::Membership members;  // as of the last applied slot, or given on joining
  Slot members_slot = 0;          // Restored::membership_slot
  std::map<std::string, std::string> kv;
  std::map<int, uint64_t> sessions;  // client -> last applied write seq (durable)
  // Precomputed entries (src/replication/apply_chain.h): the apply head and
  // a state counter that every applied write raises (what a precomputed
  // write carries, like a table version), durable with the state.
  uint64_t head = 0;
  uint64_t version = 0;
  std::map<uint64_t, Slot> reads;  // read id -> index to wait for (volatile)
  // Leader: the speculative state after everything it proposed (volatile).
  bool spec = false;
  uint64_t spec_head = 0;
  uint64_t spec_version = 0;
  std::map<int, uint64_t> spec_sessions;
};

struct InFlight {
  int64_t at;
  uint64_t order;  // tie-break, random
  Message msg;
};

// A state machine snapshot on its way from one node to another.
struct SnapshotInFlight {
  int64_t at;
  NodeId from;
  NodeId to;
  std::vector<Entry> applied;
  consensus::Membership members;
  Slot members_slot = 0;
  std::map<std::string, std::string> kv;
  std::map<int, uint64_t> sessions;
  uint64_t head = 0;
  uint64_t version = 0;
};

// What a slot holds, as the one-value-per-slot check compares it.
std::string ValueOf(const Entry& e) {
  if (e.config) return "<config " + e.config->ToString() + ">";
  return e.noop ? "<noop>" : e.value();
}

struct PendingOp {
  size_t history_index;
  NodeId node;
  Slot slot;
  std::string cmd;   // "w key value client seq" or "r key nonce"
  std::string data;  // the entry proposed for it (MakeEntry), this attempt
  int attempts = 1;
  int64_t attempt_at = 0;
};

class Simulation {
 public:
  Simulation(uint64_t seed, const SimOptions& o) : o_(o), rng_(seed), seed_(seed) {
    for (int i = 1; i <= o_.nodes; i++) ids_.push_back(static_cast<NodeId>(i));
    for (NodeId id : ids_) {
      SimNode n;
      n.id = id;
      n.drift = static_cast<int>(Rand(3)) - 1;
      n.members.voters = ids_;
      nodes_[id] = std::move(n);
      Start(id);
    }
    next_spare_ = static_cast<NodeId>(o_.nodes + 1);
  }

  SimResult Run() {
    const int64_t total = o_.ticks + o_.heal_ticks;
    for (now_ = 0; now_ < total && violations_.empty(); now_++) {
      const bool faulty = now_ < o_.ticks;
      if (faulty) InjectFaults();
      if (faulty && o_.change > 0 && Chance(o_.change)) ChangeMembership();
      if (!faulty && now_ == o_.ticks) Heal();
      Deliver();
      DeliverSnapshots();
      TickNodes();
      // The last ticks are quiet so that every node can catch up.
      if (now_ < total - kQuietTicks) Clients(faulty);
      CheckInvariants();
    }
    if (violations_.empty()) CheckEnd();
    SimResult r;
    r.violations = violations_;
    r.committed = committed_;
    r.precomputed = precomputed_;
    r.skipped = skipped_;
    r.unknown = unknown_;
    r.changes = changes_;
    r.transfers = transfers_;
    r.operations = history_.size();
    r.trace = trace_.str();
    return r;
  }

 private:
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void Trace(const std::string& s) {
    if (o_.trace) trace_ << "t=" << now_ << " " << s << "\n";
  }
  void Violation(const std::string& s) {
    violations_.push_back("seed " + std::to_string(seed_) + " t=" + std::to_string(now_) + ": " + s);
    Trace("VIOLATION " + s);
  }

  void Start(NodeId id) {
    SimNode& n = nodes_[id];
    consensus::Config c;
    c.id = id;
    c.members = n.members.voters;
    c.cluster_id = 42;
    c.election_ticks = 10;
    c.heartbeat_ticks = 2;
    c.seed = seed_ * 131 + id + restarts_++;
    c.max_entries_per_accept = 8;
    // Odd seeds: a byte budget of about one entry, so that Accepts carry one
    // or two entries and promises travel in parts (which the network may
    // drop, duplicate or reorder like any message).
    if (seed_ % 2 == 1) c.max_bytes_per_message = 64;
    c.testing_vote_despite_live_leader = o_.bug_vote_despite_live_leader;
    c.testing_count_unpersisted = o_.bug_count_unpersisted;
    c.testing_learners_count = o_.bug_learners_count;
    c.testing_unchecked_membership = o_.bug_unchecked_changes;
    consensus::Restored r;
    r.membership = n.members;
    r.membership_slot = n.members_slot;
    r.hard_state = n.disk.hard;
    r.entries = n.disk.entries;
    r.applied = n.applied.empty() ? 0 : n.applied.back().slot;
    r.compacted = n.disk.compacted;
    n.node = std::make_unique<Node>(c, std::move(r));
    n.up = true;
    n.stall = 0;
  }

  void Crash(NodeId id, const std::string& why) {
    SimNode& n = nodes_[id];
    if (!n.up) return;
    n.up = false;
    n.node.reset();
    n.unpersisted.reset();
    n.spec = false;
    Trace("crash " + std::to_string(id) + " (" + why + ")");
    for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
      if (it->second.second == id) {
        it = pending_reads_.erase(it);
      } else {
        ++it;
      }
    }
    // Its clients' pending operations fail over: writes are retried
    // elsewhere at once (they may or may not have happened).
    for (auto& [key, p] : pending_) {
      if (key.first == id) p.attempt_at = std::numeric_limits<int64_t>::min() / 2;
    }
  }

  void InjectFaults() {
    if (Chance(o_.crash)) {
      std::vector<NodeId> up;
      for (auto& [id, n] : nodes_) {
        if (n.up) up.push_back(id);
      }
      if (!up.empty()) Crash(up[Rand(up.size())], "fault");
    }
    for (auto& [id, n] : nodes_) {
      if (!n.up && Chance(o_.restart)) {
        Start(id);
        Trace("restart " + std::to_string(id));
      }
    }
    if (Chance(o_.partition)) {
      blocked_.clear();
      const int kind = static_cast<int>(Rand(4));
      if (kind == 0) {  // symmetric: one node isolated
        NodeId x = ids_[Rand(ids_.size())];
        for (NodeId y : ids_) {
          if (y != x) {
            blocked_.insert({x, y});
            blocked_.insert({y, x});
          }
        }
        Trace("partition: isolate " + std::to_string(x));
      } else if (kind == 1) {  // one-way
        NodeId x = ids_[Rand(ids_.size())];
        for (NodeId y : ids_) {
          if (y != x) blocked_.insert({x, y});
        }
        Trace("partition: " + std::to_string(x) + " cannot send");
      } else if (kind == 2) {  // partial: one link cut
        NodeId x = ids_[Rand(ids_.size())], y = ids_[Rand(ids_.size())];
        if (x != y) {
          blocked_.insert({x, y});
          blocked_.insert({y, x});
        }
        Trace("partition: link " + std::to_string(x) + "-" + std::to_string(y));
      } else {
        Trace("partition healed");
      }
    }
  }

  // The node that applied the most: its membership is the newest chosen.
  const SimNode& Newest() const {
    const SimNode* newest = nullptr;
    for (auto& [id, n] : nodes_) {
      if (!newest || n.applied.size() > newest->applied.size()) newest = &n;
    }
    return *newest;
  }

  // Members come back up. Once a quorum of the newest voters applied the
  // newest membership (the change is settled: kvgo-cli would report it
  // done), a removed node that is down stays down, as an operator would
  // leave it, so its vote cannot hide a cluster that still needs it.
  void Heal() {
    blocked_.clear();
    const SimNode& newest = Newest();
    size_t know = 0;
    for (NodeId v : newest.members.voters) know += nodes_.count(v) && nodes_[v].members_slot >= newest.members_slot;
    const bool settled = know >= newest.members.Quorum();
    std::set<NodeId> keep;  // members, and members of a change in flight
    for (auto& [id, n] : nodes_) {
      if (newest.members.Contains(id)) keep.insert(id);
      if (!n.up) continue;
      if (const consensus::Membership* p = n.node->pending_membership()) {
        keep.insert(p->voters.begin(), p->voters.end());
        keep.insert(p->learners.begin(), p->learners.end());
      }
    }
    for (auto& [id, n] : nodes_) {
      if (!n.up && (keep.count(id) || !settled)) Start(id);
      n.stall = 0;
    }
    Trace("heal: members up, no partitions, no drops");
    healed_at_ = now_;
  }

  bool Faulty() const { return now_ < o_.ticks; }

  void Send(const Message& m) {
    if (blocked_.count({m.from, m.to})) return;
    if (Faulty() && Chance(o_.drop)) return;
    const int copies = Faulty() && Chance(o_.duplicate) ? 2 : 1;
    for (int i = 0; i < copies; i++) {
      net_.push_back(InFlight{now_ + static_cast<int64_t>(Rand(o_.max_delay + 1)), rng_(), m});
    }
  }

  void Deliver() {
    std::vector<InFlight> due;
    for (auto it = net_.begin(); it != net_.end();) {
      if (it->at <= now_) {
        due.push_back(std::move(*it));
        it = net_.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) { return a.order < b.order; });
    for (auto& f : due) {
      SimNode& n = nodes_[f.msg.to];
      if (!n.up) continue;
      if (o_.trace) Trace("deliver " + f.msg.ToString());
      n.node->Step(f.msg);
      ProcessReady(f.msg.to);
    }
  }

  void TickNodes() {
    for (auto& [id, n] : nodes_) {
      if (!n.up) continue;
      int ticks = 1 + (n.drift > 0 && now_ % 10 == 0 ? 1 : 0) - (n.drift < 0 && now_ % 10 == 0 ? 1 : 0);
      for (int i = 0; i < ticks && n.up; i++) {
        n.node->Tick();
        ProcessReady(id);
      }
      if (n.stall > 0) n.stall--;
    }
  }

  // One Ready's steps on a simulated node; a step returns false once the
  // node crashed.
  class ReadySteps : public consensus::ReadyHandler {
   public:
    ReadySteps(Simulation* sim, SimNode& n) : sim_(sim), n_(n) {}
    bool Send(consensus::Ready& rd) override {
      for (const auto& m : rd.messages) sim_->Send(m);
      return true;
    }
    bool Apply(consensus::Ready& rd) override {
      if (sim_->Faulty() && sim_->Chance(sim_->o_.crash_in_ready / 2)) {
        sim_->Crash(n_.id, "after send, before apply and persist");
        return false;
      }
      for (const Entry& e : rd.committed) sim_->Apply(n_, e);
      for (const auto& r : rd.reads) n_.reads[r.id] = r.index;
      sim_->ServeReads(n_);
      for (Slot s : rd.unknown) sim_->Unknown(n_.id, s);
      return true;
    }
    bool Persist(consensus::Ready& rd) override {
      if (rd.hard_state) {
        if (rd.hard_state->promised < n_.disk.hard.promised) {
          sim_->Violation("node " + std::to_string(n_.id) + " lowers its promise " + n_.disk.hard.promised.ToString() +
                          " -> " + rd.hard_state->promised.ToString());
        }
        n_.disk.hard = *rd.hard_state;
      }
      for (const Entry& e : rd.entries) n_.disk.entries[e.slot] = e;
      if (sim_->Faulty() && sim_->Chance(sim_->o_.crash_in_ready / 2)) {
        sim_->Crash(n_.id, "after persist, before Advance");
        return false;
      }
      return true;
    }
    bool Snapshot(consensus::Ready& rd) override {
      for (NodeId peer : rd.snapshots) sim_->SendSnapshot(n_, peer);
      return n_.up;
    }

   private:
    Simulation* sim_;
    SimNode& n_;
  };

  // The client hears "unknown": a write is retried with its (client, seq);
  // the history keeps it as possibly-effective.
  void Unknown(NodeId id, Slot s) {
    auto p = pending_.find({id, s});
    if (p == pending_.end()) return;
    unknown_++;
    if (history_[p->second.history_index].write && p->second.attempts < 3) retries_.push_back(p->second);
    pending_.erase(p);
  }

  void ProcessReady(NodeId id) {
    SimNode& n = nodes_[id];
    if (!n.up) return;
    if (n.unpersisted) {
      if (now_ < n.persist_at) return;  // the write is still under way
      consensus::Ready rd = std::move(*n.unpersisted);
      n.unpersisted.reset();
      ReadySteps steps(this, n);
      if (!consensus::FinishReady(*n.node, steps, rd)) return;
      AfterAdvance(n);
    }
    if (!n.node->HasReady()) return;
    if (n.stall > 0) return;  // slow disk: the Ready waits
    if (Faulty() && Chance(o_.slow_disk)) {
      n.stall = 1 + static_cast<int>(Rand(3));
      return;
    }
    // The production order (consensus/ready.h), with crashes between its
    // steps; sometimes with the write completing ticks later.
    ReadySteps steps(this, n);
    if (Faulty() && Chance(o_.async_persist)) {
      std::optional<consensus::Ready> rd = consensus::BeginReady(*n.node, steps);
      if (!rd) return;
      n.unpersisted = std::move(*rd);
      n.persist_at = now_ + 1 + static_cast<int64_t>(Rand(3));
      return;
    }
    if (!consensus::ProcessReady(*n.node, steps)) return;
    AfterAdvance(n);
  }

  void AfterAdvance(SimNode& n) {
    const NodeId id = n.id;
    if (n.up && n.spec) {
      if (n.node->role() != consensus::Role::kLeader) {
        n.spec = false;
      } else if (n.node->applied() + 1 == n.node->next_slot()) {
        // Everything it proposed is applied: the speculative state is the
        // state, or its chain broke (Applier::Apply).
        if (n.spec_head != n.head) {
          n.spec = false;
        } else if (n.spec_version != n.version) {
          Violation("node " + std::to_string(id) + ": the speculative state differs from the applied state");
        }
      }
    }
    MaybeCompact(n);
  }

  // Log truncation: keep a short tail so that lagging nodes need snapshots.
  void MaybeCompact(SimNode& n) {
    if (!n.up) return;
    const Slot applied = n.node->applied();
    if (applied < n.node->compacted() + 40) return;
    const Slot upto = applied - 10;
    n.node->Compact(upto);
    n.disk.entries.erase(n.disk.entries.begin(), n.disk.entries.upper_bound(upto));
    n.disk.compacted = upto;
  }

  void SendSnapshot(const SimNode& n, NodeId peer) {
    if (blocked_.count({n.id, peer}) || (Faulty() && Chance(o_.drop))) return;
    snapshots_.push_back(SnapshotInFlight{now_ + 1 + static_cast<int64_t>(Rand(o_.max_delay + 3)), n.id, peer,
                                          n.applied, n.members, n.members_slot, n.kv, n.sessions, n.head, n.version});
    Trace("snapshot " + std::to_string(n.id) + "->" + std::to_string(peer) + " at slot " +
          std::to_string(n.applied.empty() ? 0 : n.applied.back().slot));
  }

  void DeliverSnapshots() {
    for (auto it = snapshots_.begin(); it != snapshots_.end();) {
      // A node whose last Ready is still being written installs later.
      if (it->at > now_ || nodes_[it->to].unpersisted) {
        ++it;
        continue;
      }
      SnapshotInFlight snap = std::move(*it);
      it = snapshots_.erase(it);
      SimNode& n = nodes_[snap.to];
      const Slot slot = snap.applied.empty() ? 0 : snap.applied.back().slot;
      const Slot mine = n.applied.empty() ? 0 : n.applied.back().slot;
      if (!n.up || slot <= mine) continue;
      for (const Entry& e : snap.applied) {
        auto c = chosen_.find(e.slot);
        const std::string value = ValueOf(e);
        if (c != chosen_.end() && c->second != value) {
          Violation("snapshot from " + std::to_string(snap.from) + " disagrees at slot " + std::to_string(e.slot));
          return;
        }
      }
      n.applied = std::move(snap.applied);
      if (snap.members_slot >= n.members_slot) {
        n.members = snap.members;
        n.members_slot = snap.members_slot;
      }
      n.kv = std::move(snap.kv);
      n.sessions = std::move(snap.sessions);
      n.head = snap.head;
      n.version = snap.version;
      n.disk.entries.erase(n.disk.entries.begin(), n.disk.entries.upper_bound(slot));
      n.disk.compacted = slot;
      Trace("install snapshot at " + std::to_string(snap.to) + " slot " + std::to_string(slot));
      n.node->SnapshotInstalled(slot, snap.from, snap.members, snap.members_slot);
      ProcessReady(snap.to);
    }
  }

  // Linearizable reads (lease or read-index) are served from this node's
  // state machine once it applied up to the read's index.
  void ServeReads(SimNode& n) {
    const Slot applied = n.applied.empty() ? 0 : n.applied.back().slot;
    for (auto it = n.reads.begin(); it != n.reads.end();) {
      if (it->second > applied) {
        ++it;
        continue;
      }
      auto p = pending_reads_.find(it->first);
      if (p != pending_reads_.end() && p->second.second == n.id) {
        Operation& op = history_[p->second.first];
        op.value = n.kv[op.key];
        op.response = now_;
        committed_++;
        pending_reads_.erase(p);
      }
      it = n.reads.erase(it);
    }
  }

  void Apply(SimNode& n, const Entry& e) {
    const Slot expect = n.applied.empty() ? 1 : n.applied.back().slot + 1;
    if (e.slot != expect) {
      Violation("node " + std::to_string(n.id) + " applies slot " + std::to_string(e.slot) + " after " +
                std::to_string(expect - 1));
      return;
    }
    // One value per slot, across all nodes and all time.
    const std::string value = ValueOf(e);
    auto [it, fresh] = chosen_.emplace(e.slot, value);
    if (!fresh && it->second != value) {
      Violation("slot " + std::to_string(e.slot) + " chosen twice: \"" + it->second + "\" and \"" + value + "\"");
      return;
    }
    n.applied.push_back(e);
    if (consensus::TakesEffect(e, n.members_slot, o_.bug_unchecked_changes)) {
      n.members = *e.config;
      n.members_slot = e.slot;
      if (e.slot > last_change_) {
        last_change_ = e.slot;
        changes_++;
      }
    }
    std::string result;
    bool admitted = true;
    if (!e.noop && !e.config) {
      // data = "<op> key arg client seq id after version dup" (MakeEntry)
      std::istringstream in(e.value());
      std::string op, key, arg;
      int client = 0;
      uint64_t seq = 0, id = 0, after = 0, version = 0;
      int dup = 0;
      in >> op >> key >> arg >> client >> seq >> id >> after >> version >> dup;
      replication::ApplyChain chain{n.head};
      admitted = chain.Admit(o_.bug_no_chain_check ? 0 : after, id);
      n.head = chain.head;
      if (!admitted) skipped_++;
      if (admitted && op == "p") precomputed_++;
      if (admitted && op == "p") {
        // Precomputed by a leader on its speculative state: the chain check
        // must guarantee that it is this state.
        const bool dup_here = !(o_.bug_no_dedupe || seq > n.sessions[client]);
        if (dup_here != (dup != 0) || (!dup_here && version != n.version + 1)) {
          Violation("node " + std::to_string(n.id) + " slot " + std::to_string(e.slot) +
                    ": entry precomputed on another state (\"" + e.value() + "\", state version " +
                    std::to_string(n.version) + ")");
          return;
        }
      }
      if (admitted && (op == "w" || op == "p")) {
        // Exactly once: a retried write whose first attempt was applied too
        // is skipped by the session table.
        if (o_.bug_no_dedupe || seq > n.sessions[client]) {
          n.kv[key] = arg;
          n.sessions[client] = std::max(n.sessions[client], seq);
          n.version++;
          if (++effects_[{n.id, client, seq}] > 1) {
            Violation("node " + std::to_string(n.id) + " applied write (" + std::to_string(client) + "," +
                      std::to_string(seq) + ") twice");
          }
        }
      } else if (admitted) {
        result = n.kv[key];
      }
    }
    auto p = pending_.find({n.id, e.slot});
    if (p != pending_.end()) {
      if (p->second.data == e.value() && !e.noop && admitted) {
        Operation& op = history_[p->second.history_index];
        if (op.response != kTimedOut) {  // an earlier attempt was acked already
          pending_.erase(p);
          return;
        }
        op.response = now_;
        if (!op.write) op.value = result;
        committed_++;
        acked_[e.slot] = e.value();
      }
      // Else another value took the slot, or a leader change cut the chain
      // this entry was computed in: the op never takes effect (it stays
      // "timed out" in the history, which the checker allows).
      pending_.erase(p);
    }
  }

  // The entry a leader proposes for `cmd`, as Replicator::Speculate makes
  // it: plain (computed by every replica, after 0) until every slot before
  // it is applied; from then on computed on the speculative state and
  // chained after the previous proposal. A write becomes "p" with the
  // state version and session verdict the leader computed.
  std::string MakeEntry(SimNode& n, const std::string& cmd) {
    std::istringstream in(cmd);
    std::string op, key, arg;
    int client = 0;
    uint64_t seq = 0;
    in >> op >> key >> arg >> client >> seq;
    const uint64_t id = next_id_++;
    if (!n.spec && n.node->LeaderReady() && n.node->applied() + 1 == n.node->next_slot()) {
      n.spec = true;
      n.spec_head = n.head;
      n.spec_version = n.version;
      n.spec_sessions = n.sessions;
    }
    const std::string tail = " " + std::to_string(client) + " " + std::to_string(seq) + " " + std::to_string(id);
    if (!n.spec) return op + " " + key + " " + arg + tail + " 0 0 0";
    const uint64_t after = n.spec_head;
    n.spec_head = id;
    if (op != "w") return op + " " + key + " " + arg + tail + " " + std::to_string(after) + " 0 0";
    const bool dup = !(o_.bug_no_dedupe || seq > n.spec_sessions[client]);
    if (!dup) {
      n.spec_version++;
      n.spec_sessions[client] = std::max(n.spec_sessions[client], seq);
    }
    return "p " + key + " " + arg + tail + " " + std::to_string(after) + " " +
           std::to_string(dup ? 0 : n.spec_version) + " " + (dup ? "1" : "0");
  }

  void Clients(bool faulty) {
    // A client gives up on an attempt after a deadline. A write is retried
    // with the same (client, seq) at whichever node leads, a few times; then
    // it stays in the history as timed out (it may or may not take effect).
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now_ - it->second.attempt_at > kClientTimeoutTicks) {
        if (history_[it->second.history_index].write && it->second.attempts < 3) retries_.push_back(it->second);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    std::vector<PendingOp> waiting;
    for (PendingOp& p : retries_) {
      if (now_ - history_[p.history_index].invoke > 4 * kClientTimeoutTicks) continue;  // gave up
      NodeId id = ids_[Rand(ids_.size())];
      SimNode& n = nodes_[id];
      Slot s = 0;
      if (n.up && n.node->role() == consensus::Role::kLeader) {
        p.data = MakeEntry(n, p.cmd);
        s = n.node->Propose(p.data);
      }
      if (s == 0) {
        waiting.push_back(p);
        continue;
      }
      p.node = id;
      p.slot = s;
      p.attempts++;
      p.attempt_at = now_;
      pending_[{id, s}] = p;
      Trace("retry \"" + p.data + "\" at node " + std::to_string(id) + " slot " + std::to_string(s));
      ProcessReady(id);
    }
    retries_ = std::move(waiting);
    for (auto it = pending_reads_.begin(); it != pending_reads_.end();) {
      if (now_ - history_[it->second.first].invoke > kClientTimeoutTicks) {
        it = pending_reads_.erase(it);
      } else {
        ++it;
      }
    }
    for (int c = 0; c < o_.clients; c++) {
      if (busy_.count(c)) {
        bool still = false;
        for (const auto& [slot, p] : pending_) still |= history_[p.history_index].client == c;
        for (const auto& [id, p] : pending_reads_) still |= history_[p.first].client == c;
        for (const auto& p : retries_) still |= history_[p.history_index].client == c;
        if (still) continue;
        busy_.erase(c);
      }
      if (!Chance(faulty ? 0.3 : 0.5)) continue;
      // Ask a random node; only the leader accepts.
      NodeId id = ids_[Rand(ids_.size())];
      SimNode& n = nodes_[id];
      if (!n.up || n.node->role() != consensus::Role::kLeader) continue;
      const std::string key = "k" + std::to_string(Rand(o_.keys));
      const bool write = Chance(0.6);
      Operation op;
      op.client = c;
      op.write = write;
      op.key = key;
      op.invoke = now_;
      op.response = kTimedOut;
      std::string cmd;
      if (write) {
        op.value = "v" + std::to_string(next_value_++);
        cmd = "w " + key + " " + op.value + " " + std::to_string(c) + " " + std::to_string(++client_seq_[c]);
      } else if (Chance(0.7)) {
        // A linearizable read outside the log (lease or read-index).
        const uint64_t rid = next_value_++;
        if (!n.node->Read(rid)) continue;
        history_.push_back(op);
        pending_reads_[rid] = {history_.size() - 1, id};
        busy_.insert(c);
        Trace("client " + std::to_string(c) + " reads " + key + " at node " + std::to_string(id) +
              (n.node->LeaseValid() ? " (lease)" : " (read-index)"));
        ProcessReady(id);
        continue;
      } else {
        cmd = "r " + key + " n" + std::to_string(next_value_++);
      }
      const std::string data = MakeEntry(n, cmd);
      const Slot s = n.node->Propose(data);
      if (s == 0) {
        n.spec = false;
        continue;
      }
      history_.push_back(op);
      pending_[{id, s}] = PendingOp{history_.size() - 1, id, s, cmd, data, 1, now_};
      busy_.insert(c);
      Trace("client " + std::to_string(c) + " proposes \"" + data + "\" at node " + std::to_string(id) + " slot " +
            std::to_string(s));
      ProcessReady(id);
    }
  }

  // Asks the leader for a random membership change (or a leadership
  // transfer); the core refuses what it must (the run goes on either way).
  void ChangeMembership() {
    NodeId l = 0;
    for (NodeId id : ids_) {
      if (nodes_[id].up && nodes_[id].node->LeaderReady()) l = id;
    }
    if (l == 0) return;
    Node& node = *nodes_[l].node;
    consensus::Membership next = node.membership();
    auto pick = [&](std::vector<NodeId>& v) {
      NodeId x = v[Rand(v.size())];
      v.erase(std::find(v.begin(), v.end(), x));
      return x;
    };
    const int kind = static_cast<int>(Rand(5));
    std::string what;
    NodeId joining = 0;
    if (kind == 0) {
      if (next_spare_ > static_cast<NodeId>(o_.nodes + o_.spares)) return;
      joining = next_spare_;
      next.learners.push_back(joining);
      what = "add learner " + std::to_string(joining);
    } else if (kind == 1) {
      if (next.learners.empty()) return;
      const size_t n = o_.bug_unchecked_changes ? next.learners.size() : 1;
      for (size_t i = 0; i < n; i++) next.voters.push_back(pick(next.learners));
      what = "promote";
    } else if (kind == 2) {
      if (next.voters.size() <= 1) return;
      const int n = o_.bug_unchecked_changes && next.voters.size() > 2 ? 2 : 1;
      for (int i = 0; i < n; i++) pick(next.voters);
      what = "remove voters";
    } else if (kind == 3) {
      if (next.learners.empty()) return;
      pick(next.learners);
      what = "remove a learner";
    } else {
      std::vector<NodeId> others = next.voters;
      others.erase(std::remove(others.begin(), others.end(), l), others.end());
      if (others.empty()) return;
      const NodeId to = others[Rand(others.size())];
      std::string why;
      const bool ok = node.TransferLeadership(to, &why);
      transfers_ += ok;
      Trace("transfer leadership " + std::to_string(l) + " -> " + std::to_string(to) + (ok ? "" : ": " + why));
      ProcessReady(l);
      return;
    }
    next.Normalize();
    std::string why;
    const Slot s = node.ProposeMembership(next, &why);
    Trace("membership at " + std::to_string(l) + ": " + what + " -> " + next.ToString() +
          (s ? " slot " + std::to_string(s) : ": refused: " + why));
    if (s != 0 && joining != 0) {
      // The new node starts empty and learns the membership from the node
      // it joins through (kvgo-cli member add), here the leader's.
      SimNode n;
      n.id = joining;
      n.drift = static_cast<int>(Rand(3)) - 1;
      n.members = node.membership();
      n.members_slot = node.membership_slot();
      nodes_[joining] = std::move(n);
      ids_.push_back(joining);
      next_spare_++;
      Start(joining);
    }
    ProcessReady(l);
  }

  void CheckInvariants() {
    for (auto& [id, n] : nodes_) {
      // Accepted ballot <= promise, on disk.
      for (const auto& [slot, e] : n.disk.entries) {
        if (n.disk.hard.promised < e.ballot) {
          Violation("node " + std::to_string(id) + " accepted slot " + std::to_string(slot) + " in " +
                    e.ballot.ToString() + " above its promise " + n.disk.hard.promised.ToString());
          return;
        }
      }
      if (n.up && n.node->promised() < n.disk.hard.promised) {
        Violation("node " + std::to_string(id) + " runs with a promise below its durable one");
        return;
      }
    }
    // At most one node holds a valid lease at any instant.
    int leases = 0;
    std::string holders;
    for (auto& [id, n] : nodes_) {
      if (n.up && n.node->LeaseValid()) {
        leases++;
        holders += " " + std::to_string(id);
      }
    }
    if (leases > 1) {
      Violation("two leases at once:" + holders);
      return;
    }
    // One value per slot is checked on every apply; acknowledged writes
    // present everywhere and progress after healing at the end (CheckEnd).
  }

  void CheckEnd() {
    // Progress after healing: some operation was acknowledged after heal,
    // and every node applied every acknowledged slot with the same value.
    Slot max_acked = acked_.empty() ? 0 : acked_.rbegin()->first;
    bool progressed = false;
    for (const auto& op : history_) progressed |= op.response != kTimedOut && op.response >= healed_at_;
    if (!progressed) Violation("no progress within " + std::to_string(o_.heal_ticks) + " ticks after healing");
    // The members of the newest membership any node applied must all have
    // caught up; nodes removed on the way need not.
    const SimNode* newest = &Newest();
    for (auto& [id, n] : nodes_) {
      if (!newest->members.Contains(id)) continue;
      const Slot last = n.applied.empty() ? 0 : n.applied.back().slot;
      if (last < max_acked) {
        Violation("node " + std::to_string(id) + " applied up to " + std::to_string(last) +
                  " after healing; acknowledged up to " + std::to_string(max_acked));
        continue;
      }
      for (const auto& [slot, data] : acked_) {
        const Entry& e = n.applied[slot - 1];
        if (e.value() != data)
          Violation("acknowledged write at slot " + std::to_string(slot) + " lost on node " + std::to_string(id));
      }
    }
    auto lin = CheckLinearizable(history_);
    if (!lin.ok) Violation("history of key " + lin.key + " is not linearizable");
  }

  SimOptions o_;
  std::mt19937_64 rng_;
  uint64_t seed_;
  int64_t now_ = 0;
  int64_t healed_at_ = 0;
  uint64_t restarts_ = 0;
  std::vector<NodeId> ids_;  // every node started so far: the first members, then learners added
  NodeId next_spare_ = 0;
  Slot last_change_ = 0;
  uint64_t changes_ = 0;
  uint64_t transfers_ = 0;
  std::map<NodeId, SimNode> nodes_;
  std::vector<InFlight> net_;
  std::vector<SnapshotInFlight> snapshots_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  std::map<Slot, std::string> chosen_;
  std::map<Slot, std::string> acked_;
  std::map<std::pair<NodeId, Slot>, PendingOp> pending_;
  std::map<uint64_t, std::pair<size_t, NodeId>> pending_reads_;  // read id -> (history index, node)
  std::set<int> busy_;
  std::vector<Operation> history_;
  std::map<int, uint64_t> client_seq_;
  std::vector<PendingOp> retries_;
  uint64_t unknown_ = 0;
  std::map<std::tuple<NodeId, int, uint64_t>, int> effects_;
  uint64_t committed_ = 0;
  uint64_t next_value_ = 1;
  uint64_t next_id_ = 1;  // proposal ids: unique across the run
  uint64_t precomputed_ = 0;
  uint64_t skipped_ = 0;
  std::vector<std::string> violations_;
  std::ostringstream trace_;
};

}  // namespace

SimResult RunSimulation(uint64_t seed, const SimOptions& options) { return Simulation(seed, options).Run(); }

}  // namespace kvgo::sim
