// Scripted scenarios for the consensus core, with a network the test
// drives by hand (the simulator in tests/sim covers random faults).
#include "consensus/paxos.h"

#include <gtest/gtest.h>

#include "consensus/paxos_test_net.h"

namespace kvgo::consensus {
namespace {

using testing::Net;

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

TEST(Paxos, RefusesVotesToStrangersAndDropsOtherClusters) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  const NodeId f = l % 3 + 1, g = f % 3 + 1;
  net.cut = {l, g};
  net.Ticks(25);  // f hears from no leader: it would vote
  Message m;
  m.type = MsgType::kPrepare;
  m.to = f;
  m.first_slot = 1;
  m.from = 9;  // a voter of no membership f knows
  m.cluster_id = 7;
  m.ballot = Ballot{1000, 9};
  net.nodes[f]->Step(m);
  EXPECT_LT(net.nodes[f]->promised().round, 1000u);
  m.from = g;  // a voter, of another cluster
  m.cluster_id = 8;
  m.ballot = Ballot{1000, g};
  net.nodes[f]->Step(m);
  EXPECT_LT(net.nodes[f]->promised().round, 1000u);
  m.cluster_id = 7;  // the same voter of this cluster: granted
  net.nodes[f]->Step(m);
  EXPECT_EQ(net.nodes[f]->promised(), (Ballot{1000, g}));
}

}  // namespace
}  // namespace kvgo::consensus
