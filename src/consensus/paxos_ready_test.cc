// The Ready contract (paxos.h) and the size of what a Ready hands out,
// in scenarios a test drives by hand.
#include <gtest/gtest.h>

#include "consensus/paxos.h"
#include "consensus/paxos_test_net.h"

namespace kvgo::consensus {
namespace {

using testing::Net;

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

}  // namespace
}  // namespace kvgo::consensus
