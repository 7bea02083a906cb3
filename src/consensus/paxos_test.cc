// Scripted scenarios for the consensus core, with a network the test
// drives by hand (the simulator in tests/sim covers random faults).
#include "consensus/paxos.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "consensus/ready.h"

namespace kvgo::consensus {
namespace {

struct Net {
  // Does a node's Ready against the test's disk and queue.
  struct Handler : ReadyHandler {
    Net* net;
    NodeId id;
    Handler(Net* n, NodeId i) : net(n), id(i) {}
    bool Send(Ready& rd) override {
      for (auto& m : rd.messages) {
        if (!net->cut.count(m.from) && !net->cut.count(m.to) && (!net->drop || !net->drop(m))) net->queue.push_back(m);
      }
      return true;
    }
    bool Apply(Ready& rd) override {
      for (auto& e : rd.committed) net->applied[id].push_back(e);
      for (Slot s : rd.unknown) net->unknown[id].push_back(s);
      return true;
    }
    bool Persist(Ready& rd) override {
      if (rd.hard_state) net->disk[id].hard_state = *rd.hard_state;
      for (auto& e : rd.entries) net->disk[id].entries[e.slot] = e;
      return true;
    }
    bool Snapshot(Ready& rd) override {
      for (NodeId peer : rd.snapshots) net->snapshot_requests.push_back({id, peer});
      return true;
    }
  };

  explicit Net(int n, size_t max_bytes_per_message = Config().max_bytes_per_message) {
    std::vector<NodeId> members;
    for (int i = 1; i <= n; i++) members.push_back(i);
    for (NodeId id : members) {
      Config c;
      c.id = id;
      c.members = members;
      c.cluster_id = 7;
      c.seed = id;
      c.max_bytes_per_message = max_bytes_per_message;
      nodes[id] = std::make_unique<Node>(c, Restored{});
      configs[id] = c;
    }
  }
  // Persist and route every node's Ready until nothing moves.
  void Settle(int max_rounds = 1000) {
    for (int r = 0; r < max_rounds; r++) {
      bool moved = false;
      for (auto& [id, n] : nodes) {
        if (!n || !n->HasReady()) continue;
        moved = true;
        Handler h{this, id};
        ProcessReady(*n, h);
      }
      while (!queue.empty()) {
        moved = true;
        Message m = queue.front();
        queue.pop_front();
        if (nodes[m.to]) nodes[m.to]->Step(m);
      }
      if (!moved) return;
    }
  }
  void Ticks(int n) {
    for (int i = 0; i < n; i++) {
      for (auto& [id, node] : nodes) {
        if (node) node->Tick();
      }
      Settle();
    }
  }
  NodeId Leader() {
    for (auto& [id, n] : nodes) {
      if (n && n->role() == Role::kLeader && !cut.count(id)) return id;
    }
    return 0;
  }
  void Crash(NodeId id) { nodes[id].reset(); }
  void Restart(NodeId id) {
    Restored r = disk[id];
    r.applied = applied[id].empty() ? 0 : applied[id].back().slot;
    nodes[id] = std::make_unique<Node>(configs[id], r);
  }
  std::vector<std::string> Values(NodeId id) {
    std::vector<std::string> v;
    for (auto& e : applied[id]) {
      if (!e.noop) v.push_back(e.value());
    }
    return v;
  }

  std::map<NodeId, std::unique_ptr<Node>> nodes;
  std::map<NodeId, Config> configs;
  std::map<NodeId, Restored> disk;
  std::map<NodeId, std::vector<Entry>> applied;
  std::deque<Message> queue;
  std::set<NodeId> cut;
  std::vector<std::pair<NodeId, NodeId>> snapshot_requests;  // (from, to)
  std::map<NodeId, std::vector<Slot>> unknown;
  std::function<bool(const Message&)> drop;
};

TEST(Paxos, SingleNodeElectsItselfAndCommits) {
  Net net(1);
  net.Ticks(25);
  ASSERT_EQ(net.Leader(), 1u);
  EXPECT_TRUE(net.nodes[1]->LeaderReady());
  EXPECT_GT(net.nodes[1]->Propose("a"), 0u);
  net.Settle();
  EXPECT_EQ(net.Values(1), std::vector<std::string>{"a"});
  EXPECT_EQ(net.disk[1].hard_state.promised, net.nodes[1]->promised());  // persisted
}

TEST(Paxos, ThreeNodesReplicateInOrder) {
  Net net(3);
  net.Ticks(30);
  NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  for (int i = 0; i < 50; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Settle();
  net.Ticks(3);  // heartbeats carry the commit index to followers
  for (NodeId id : {1u, 2u, 3u}) {
    auto v = net.Values(id);
    ASSERT_EQ(v.size(), 50u) << "node " << id;
    EXPECT_EQ(v.front(), "v0");
    EXPECT_EQ(v.back(), "v49");
  }
  EXPECT_EQ(net.nodes[l + 0]->Propose("x") > 0, true);
  NodeId follower = l == 1 ? 2 : 1;
  EXPECT_EQ(net.nodes[follower]->Propose("y"), 0u);  // only the leader proposes
}

TEST(Paxos, NewLeaderKeepsAValueAcceptedByAMinority) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const NodeId f1 = l % 3 + 1, f2 = f1 % 3 + 1;
  // The next Accept reaches f1 only; the leader then dies before anything
  // commits.
  net.drop = [&](const Message& m) { return m.type == MsgType::kAccept && m.to == f2; };
  const Slot s = net.nodes[l]->Propose("precious");
  net.Settle();
  net.drop = [&](const Message& m) { return m.to == l || m.from == l; };
  net.Crash(l);
  net.cut.insert(l);
  net.Ticks(60);
  const NodeId l2 = net.Leader();
  ASSERT_TRUE(l2 == f1 || l2 == f2) << l2;
  net.drop = nullptr;
  net.Ticks(5);
  // Any majority of {f1, f2} includes f1, which accepted the value: Phase 1
  // recovers it at the same slot.
  for (NodeId id : {f1, f2}) {
    bool found = false;
    for (auto& e : net.applied[id]) found |= e.slot == s && e.value() == "precious";
    EXPECT_TRUE(found) << "node " << id;
  }
}

// The Ready contract (paxos.h): nothing a Ready hands out depends on that
// Ready's own write, so a driver may send before it persists.
TEST(Paxos, ACandidateCountsItsOwnVoteOnlyOnceItsPromiseIsAdvanced) {
  Config c;
  c.id = 1;
  c.members = {1};
  c.cluster_id = 7;
  Node n(c, Restored{});
  for (int i = 0; i < 40 && !n.HasReady(); i++) n.Tick();
  ASSERT_TRUE(n.HasReady());
  Ready rd = n.GetReady();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(n.role(), Role::kCandidate);  // its promise is not durable yet
  n.Advance();
  EXPECT_EQ(n.role(), Role::kLeader);
}

TEST(Paxos, ALeaderAppliesOnlyWhatItsOwnWriteAdvanced) {
  Net net(1);
  net.Ticks(25);
  Node& n = *net.nodes[1];
  ASSERT_TRUE(n.LeaderReady());
  const Slot s = n.Propose("a");
  Ready rd = n.GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.committed.empty());
  EXPECT_LT(n.commit(), s);  // its own acceptance counts after Advance
  n.Advance();
  EXPECT_EQ(n.commit(), s);
  rd = n.GetReady();
  ASSERT_EQ(rd.committed.size(), 1u);
  EXPECT_EQ(rd.committed[0].slot, s);
  n.Advance();
}

TEST(Paxos, AFollowerAcksOnlyAfterItsWriteIsAdvanced) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const NodeId f = l % 3 + 1;
  net.nodes[l]->Propose("v");
  Ready lr = net.nodes[l]->GetReady();
  net.nodes[l]->Advance();
  bool stepped = false;
  for (const Message& m : lr.messages) {
    if (m.to == f && m.type == MsgType::kAccept && !m.entries.empty()) {
      net.nodes[f]->Step(m);
      stepped = true;
    }
  }
  ASSERT_TRUE(stepped);
  auto acks = [](const Ready& rd) {
    return std::count_if(rd.messages.begin(), rd.messages.end(),
                         [](const Message& m) { return m.type == MsgType::kAccepted; });
  };
  Ready fr = net.nodes[f]->GetReady();
  ASSERT_FALSE(fr.entries.empty());
  EXPECT_EQ(acks(fr), 0);
  // A duplicate of the Accept before the write is advanced: still no ack.
  for (const Message& m : lr.messages) {
    if (m.to == f && m.type == MsgType::kAccept && !m.entries.empty()) net.nodes[f]->Step(m);
  }
  net.nodes[f]->Advance();
  ASSERT_TRUE(net.nodes[f]->HasReady());
  fr = net.nodes[f]->GetReady();
  EXPECT_GE(acks(fr), 1);
  net.nodes[f]->Advance();
}

TEST(Paxos, AcceptsAnnounceOnlyWhatTheLeaderAppliedInAdvancedReadies) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  Node& leader = *net.nodes[l];
  const Slot s = leader.Propose("v");
  // Accepts out, followers persist and ack, the leader persists.
  Ready lr = leader.GetReady();
  leader.Advance();
  for (const Message& m : lr.messages) net.nodes[m.to]->Step(m);
  std::vector<Message> acks;
  for (int round = 0; round < 2; round++) {
    for (NodeId f : {1u, 2u, 3u}) {
      if (f == l) continue;
      Ready fr = net.nodes[f]->GetReady();
      for (const Message& m : fr.messages) acks.push_back(m);
      net.nodes[f]->Advance();
    }
  }
  for (const Message& m : acks) leader.Step(m);
  ASSERT_EQ(leader.commit(), s);
  // This Ready applies s: a heartbeat built now must not announce it yet.
  for (int i = 0; i < 3; i++) leader.Tick();
  lr = leader.GetReady();
  ASSERT_FALSE(lr.committed.empty());
  EXPECT_EQ(lr.committed.back().slot, s);
  for (const Message& m : lr.messages) {
    if (m.type == MsgType::kAccept) {
      EXPECT_LT(m.commit, s) << m.ToString();
    }
  }
  leader.Advance();
  for (int i = 0; i < 3; i++) leader.Tick();
  lr = leader.GetReady();
  bool announced = false;
  for (const Message& m : lr.messages) announced |= m.type == MsgType::kAccept && m.commit == s;
  EXPECT_TRUE(announced);
  leader.Advance();
}

TEST(Paxos, AcceptsCarryAtMostTheByteBudgetOrOneEntry) {
  Net net(3, /*max_bytes_per_message=*/100);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  size_t accepts = 0, over_budget = 0, max_entries = 0;
  net.drop = [&](const Message& m) {
    if (m.type != MsgType::kAccept || m.entries.empty()) return false;
    accepts++;
    size_t bytes = 0;
    for (const auto& e : m.entries) bytes += e.value().size();
    if (bytes > 100 && m.entries.size() > 1) over_budget++;
    max_entries = std::max(max_entries, m.entries.size());
    return false;
  };
  std::vector<std::string> want;
  for (int i = 0; i < 20; i++) want.push_back(std::string(30, static_cast<char>('a' + i)));
  want.push_back(std::string(500, 'z'));  // larger than the budget: travels alone
  for (const auto& v : want) net.nodes[l]->Propose(v);
  net.Settle();
  net.Ticks(3);
  EXPECT_EQ(over_budget, 0u);
  EXPECT_GT(accepts, 7u);      // 20 x 30 bytes need at least 7 Accepts of 100
  EXPECT_EQ(max_entries, 3u);  // three 30-byte entries fit, four do not
  for (NodeId id : {1u, 2u, 3u}) EXPECT_EQ(net.Values(id), want) << "node " << id;
}

TEST(Paxos, PromiseInPartsCountsOnlyOnceEveryPartArrived) {
  Net net(3, /*max_bytes_per_message=*/64);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const NodeId a = l % 3 + 1, b = a % 3 + 1;
  // a accepts six 50-byte values that nothing commits (its acks are lost,
  // b hears nothing); then the leader dies.
  net.drop = [&](const Message& m) { return (m.type == MsgType::kAccepted && m.from == a) || m.to == b; };
  std::vector<std::string> values;
  for (int i = 0; i < 6; i++) {
    values.push_back(std::string(50, static_cast<char>('0' + i)));
    net.nodes[l]->Propose(values.back());
  }
  net.Settle();
  net.Crash(l);
  net.cut.insert(l);
  // b campaigns; a may not (its campaign messages are lost), and the second
  // part of a's promise to b never arrives: b holds no majority.
  size_t parts_seen = 0;
  net.drop = [&](const Message& m) {
    if (m.from == a && (m.type == MsgType::kPreVote || m.type == MsgType::kPrepare)) return true;
    if (m.from == a && m.type == MsgType::kPromise && m.ok) {
      parts_seen = std::max<size_t>(parts_seen, m.parts);
      return m.seq == 1;
    }
    return false;
  };
  net.Ticks(80);
  EXPECT_GE(parts_seen, 6u);  // one 50-byte value per part
  EXPECT_NE(net.nodes[b]->role(), Role::kLeader);
  EXPECT_EQ(net.Leader(), 0u);
  // With every part delivered b leads, and recovers all six values.
  net.drop = [&](const Message& m) {
    return m.from == a && (m.type == MsgType::kPreVote || m.type == MsgType::kPrepare);
  };
  net.Ticks(80);
  ASSERT_EQ(net.Leader(), b);
  net.Ticks(5);
  EXPECT_EQ(net.Values(b), values);
  EXPECT_EQ(net.Values(a), values);
}

TEST(Paxos, LeaderIgnoresAcksOfSlotsItNeverProposed) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const NodeId f1 = l % 3 + 1;
  // No follower hears the next value; a forged ack from f1 claims slot 10^6
  // in the leader's ballot (as a follower wiped by a bogus snapshot would).
  net.drop = [&](const Message& m) { return m.from == l && m.type == MsgType::kAccept; };
  const Slot s = net.nodes[l]->Propose("held by the leader alone");
  Message forged;
  forged.type = MsgType::kAccepted;
  forged.from = f1;
  forged.to = l;
  forged.cluster_id = 7;
  forged.members_hash = MembersHash({1, 2, 3});
  forged.ballot = net.nodes[l]->promised();
  forged.ok = true;
  forged.last_slot = 1000000;
  net.nodes[l]->Step(forged);
  net.Settle();
  EXPECT_LT(net.nodes[l]->commit(), s);
  for (const auto& e : net.applied[l]) EXPECT_NE(e.slot, s);
}

TEST(Paxos, RejoiningNodeDoesNotDisturbTheLeader) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const Ballot before = net.nodes[l]->promised();
  const NodeId f = l % 3 + 1;
  net.cut.insert(f);  // isolated: it times out again and again (PreVote only)
  net.Ticks(200);
  EXPECT_EQ(net.nodes[f]->promised(), before) << "an isolated node must not raise its ballot";
  net.cut.erase(f);
  net.Ticks(30);
  EXPECT_EQ(net.Leader(), l);
  EXPECT_EQ(net.nodes[l]->promised(), before);
}

TEST(Paxos, LeaderWithoutQuorumStepsDown) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  for (NodeId id : {1u, 2u, 3u}) {
    if (id != l) net.cut.insert(id);
  }
  net.Ticks(40);
  EXPECT_NE(net.nodes[l]->role(), Role::kLeader);
}

TEST(Paxos, ProposalsOfADeposedLeaderAreUnknown) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  for (NodeId id : {1u, 2u, 3u}) {
    if (id != l) net.cut.insert(id);
  }
  const Slot a = net.nodes[l]->Propose("a");
  const Slot b = net.nodes[l]->Propose("b");
  net.Ticks(40);  // no quorum: CheckQuorum deposes it
  ASSERT_NE(net.nodes[l]->role(), Role::kLeader);
  EXPECT_EQ(net.unknown[l], (std::vector<Slot>{a, b}));
}

TEST(Paxos, RestartKeepsPromiseAndLog) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  for (int i = 0; i < 10; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Settle();
  net.Ticks(3);
  const NodeId f = l % 3 + 1;
  const Ballot promised = net.nodes[f]->promised();
  net.Crash(f);
  net.Restart(f);
  EXPECT_EQ(net.nodes[f]->promised(), promised);
  EXPECT_EQ(net.nodes[f]->applied(), net.applied[f].back().slot);
  net.nodes[l]->Propose("after");
  net.Settle();
  net.Ticks(3);
  EXPECT_EQ(net.Values(f).back(), "after");
}

TEST(Paxos, LaggingPeerGetsASnapshotAfterCompaction) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_NE(l, 0u);
  const NodeId f = l % 3 + 1;
  net.Crash(f);
  net.cut.insert(f);
  for (int i = 0; i < 100; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Settle();
  net.Ticks(3);
  const Slot upto = net.nodes[l]->applied() - 5;
  net.nodes[l]->Compact(upto);
  EXPECT_EQ(net.nodes[l]->compacted(), upto);
  net.Restart(f);
  net.cut.erase(f);
  net.Ticks(30);
  ASSERT_FALSE(net.snapshot_requests.empty());
  EXPECT_EQ(net.snapshot_requests.back(), std::make_pair(l, f));
  // The caller moves the state machine; the core resumes after it.
  net.applied[f] = net.applied[l];
  net.nodes[f]->SnapshotInstalled(net.applied[l].back().slot, l);
  net.Settle();
  net.nodes[net.Leader()]->Propose("after-snapshot");
  net.Settle();
  net.Ticks(3);
  EXPECT_EQ(net.Values(f).back(), "after-snapshot");
  EXPECT_EQ(net.Values(f).size(), 101u);
}

TEST(Paxos, CandidateBehindACompactedLogCannotLead) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  const NodeId f = l % 3 + 1, g = f % 3 + 1;
  net.Crash(f);
  net.cut.insert(f);
  for (int i = 0; i < 50; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Settle();
  net.Ticks(3);
  net.nodes[l]->Compact(net.nodes[l]->applied());
  net.nodes[g]->Compact(net.nodes[g]->applied());
  // The leader dies; the lagging node comes back. It may not win: it could
  // not re-propose the compacted chosen values it never learned.
  net.Crash(l);
  net.cut.insert(l);
  net.cut.erase(f);
  net.Restart(f);
  net.Ticks(80);
  EXPECT_NE(net.nodes[f]->role(), Role::kLeader);
}

TEST(Paxos, DropsStrangers) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  Message m;
  m.type = MsgType::kPrepare;
  m.from = 9;  // not a member
  m.to = l;
  m.cluster_id = 7;
  m.members_hash = MembersHash({1, 2, 3, 9});
  m.ballot = Ballot{1000, 9};
  net.nodes[l]->Step(m);
  m.from = l % 3 + 1;  // a member, but with another member list
  net.nodes[l]->Step(m);
  m.members_hash = MembersHash({1, 2, 3});
  m.cluster_id = 8;  // another cluster
  net.nodes[l]->Step(m);
  EXPECT_EQ(net.nodes[l]->role(), Role::kLeader);
  EXPECT_LT(net.nodes[l]->promised().round, 1000u);
  // An Accept of a huge ballot from a member whose member list differs: a
  // follower would adopt it if it did not check the hash.
  const NodeId f = l % 3 + 1;
  Message a;
  a.type = MsgType::kAccept;
  a.from = l;
  a.to = f;
  a.cluster_id = 7;
  a.members_hash = MembersHash({1, 2, 3, 4});
  a.ballot = Ballot{2000, l};
  net.nodes[f]->Step(a);
  EXPECT_LT(net.nodes[f]->promised().round, 1000u);
  a.members_hash = MembersHash({3, 1, 2});  // same members, any order: accepted
  net.nodes[f]->Step(a);
  EXPECT_EQ(net.nodes[f]->promised().round, 2000u);
}

}  // namespace
}  // namespace kvgo::consensus
