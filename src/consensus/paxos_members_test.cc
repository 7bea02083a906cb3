// Scripted scenarios for membership changes and leadership transfer, one
// per known failure case of reconfiguration (docs/consensus.md,
// "Membership changes"). The simulator (tests/sim) runs them under faults.
#include <gtest/gtest.h>

#include "consensus/paxos.h"
#include "consensus/paxos_test_net.h"

namespace kvgo::consensus {

void PrintTo(const Membership& m, std::ostream* os) { *os << m.ToString(); }

namespace {

using testing::Net;

Membership M(std::vector<NodeId> voters, std::vector<NodeId> learners = {}) {
  Membership m{std::move(voters), std::move(learners)};
  m.Normalize();
  return m;
}

// The two voters other than `l` among 1..3.
std::pair<NodeId, NodeId> Others(NodeId l) { return {l % 3 + 1, (l + 1) % 3 + 1}; }

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(Membership, ChangesOneVoterAtATime) {
  EXPECT_EQ(CheckMembershipChange(M({1, 2, 3}), M({1, 2, 3, 4})), "");
  EXPECT_EQ(CheckMembershipChange(M({1, 2, 3}), M({1, 2}, {3})), "");        // demote
  EXPECT_EQ(CheckMembershipChange(M({1, 2, 3}), M({1, 2, 3}, {4, 5})), "");  // learners only
  EXPECT_NE(CheckMembershipChange(M({1, 2, 3}), M({1, 2, 3, 4, 5})), "");
  EXPECT_NE(CheckMembershipChange(M({1, 2, 3}), M({1, 4, 3, 5})), "");  // replace = two changes
  EXPECT_NE(CheckMembershipChange(M({1}), M({})), "");
  EXPECT_NE(CheckMembershipChange(M({1, 2}), M({1, 2}, {2})), "");
  EXPECT_NE(CheckMembershipChange(M({1, 2}), M({1, 2})), "");
}

TEST(Membership, ALearnerGetsTheLogButNeverCountsOrCampaigns) {
  Net net(3, Net::Learners{1});  // node 4 learns
  net.Ticks(30);
  const NodeId l = net.Leader();
  ASSERT_TRUE(l >= 1 && l <= 3);
  net.nodes[l]->Propose("a");
  net.Settle();
  net.Ticks(3);
  EXPECT_EQ(net.Values(4), std::vector<std::string>{"a"});
  auto [f, g] = Others(l);
  net.cut = {f, g};
  const Slot b = net.nodes[l]->Propose("b");
  net.Ticks(5);
  EXPECT_LT(net.nodes[l]->commit(), b) << "the learner's ack must not make a quorum";
  net.cut = {1, 2, 3};
  const Ballot before = net.nodes[4]->promised();
  net.Ticks(200);
  EXPECT_EQ(net.nodes[4]->role(), Role::kFollower);
  EXPECT_EQ(net.nodes[4]->promised(), before) << "a learner never campaigns";
}

TEST(Membership, APromotedLearnerCountsOnceItsPromotionIsChosen) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u) << why;
  net.Settle();
  net.Ticks(3);
  for (NodeId id : {1u, 2u, 3u, 4u}) EXPECT_EQ(net.nodes[id]->membership(), M({1, 2, 3, 4})) << id;
  EXPECT_TRUE(net.nodes[4]->IsVoter());
  auto [f, g] = Others(l);
  net.cut = {g};
  const Slot c = net.nodes[l]->Propose("c");
  net.Ticks(3);
  EXPECT_GE(net.nodes[l]->commit(), c) << "the leader, " << f << " and 4 are 3 of 4";
  net.cut = {f, g};
  const Slot d = net.nodes[l]->Propose("d");
  net.Ticks(5);
  EXPECT_LT(net.nodes[l]->commit(), d) << "2 of 4 voters are no quorum";
}

TEST(Membership, OneChangeAtATimeAndNoneThatStrandsTheQuorum) {
  Net net(3, Net::Learners{2});
  net.Ticks(30);
  const NodeId l = net.Leader();
  std::string why;
  EXPECT_EQ(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4, 5}), &why), 0u);
  EXPECT_NE(why.find("one voter"), std::string::npos) << why;
  const Slot s = net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}, {5}), &why);
  ASSERT_GT(s, 0u) << why;
  EXPECT_EQ(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4, 5}), &why), 0u);
  EXPECT_NE(why.find("not chosen yet"), std::string::npos) << why;
  net.Settle();
  net.Ticks(3);
  EXPECT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4, 5}), &why), 0u) << why;
}

TEST(Membership, AChangeThatLeavesNoReachableQuorumIsRefused) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, g] = Others(l);
  net.cut = {f};
  net.Ticks(25);  // f is no longer heard from
  std::string why;
  const Slot next = net.nodes[l]->next_slot();
  // Removing g would leave {l, f}, of which only l answers.
  EXPECT_EQ(net.nodes[l]->ProposeMembership(M({l, f}), &why), 0u);
  EXPECT_NE(why.find("heard from"), std::string::npos) << why;
  EXPECT_EQ(net.nodes[l]->next_slot(), next) << "nothing proposed";
  // Removing the dead f is what the operator should do instead.
  EXPECT_GT(net.nodes[l]->ProposeMembership(M({l, g}), &why), 0u) << why;
  net.Ticks(3);
  EXPECT_EQ(net.nodes[g]->membership(), M({l, g}));
}

TEST(Membership, NothingAfterAnUnchosenChangeIsSent) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  net.drop = [](const Message& m) { return m.type == MsgType::kAccepted; };
  std::string why;
  const Slot s = net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why);
  ASSERT_GT(s, 0u) << why;
  const Slot a = net.nodes[l]->Propose("after");
  net.Settle();
  net.Ticks(2);
  for (NodeId id : {1u, 2u, 3u, 4u}) {
    if (id == l) continue;
    EXPECT_TRUE(net.disk[id].entries.count(s)) << id;
    EXPECT_FALSE(net.disk[id].entries.count(a)) << "node " << id << " got a slot after the unchosen change";
  }
  net.drop = nullptr;
  net.Ticks(5);
  for (NodeId id : {1u, 2u, 3u, 4u}) {
    EXPECT_EQ(net.Values(id), std::vector<std::string>{"after"}) << id;
    EXPECT_EQ(net.nodes[id]->membership(), M({1, 2, 3, 4})) << id;
  }
}

// Raft's single-server bug (Ongaro, raft-dev, 2015): a leader must choose
// a value of its own ballot before it changes the membership, or a change
// it never learned of could be chosen beside its own.
TEST(Membership, ANewLeaderChangesMembershipOnlyOnceItsOwnValueIsChosen) {
  Net net(4, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  for (NodeId id : {1u, 2u, 3u, 4u, 5u}) {
    if (id != l) net.cut.insert(id);
  }
  std::string why;
  Membership removal = M({1, 2, 3, 4}, {5});
  removal.voters.erase(std::find(removal.voters.begin(), removal.voters.end(), l % 4 + 1));
  // The leader heard from everyone a moment ago: it may propose, and only
  // it accepts.
  const Slot s = net.nodes[l]->ProposeMembership(removal, &why);
  ASSERT_GT(s, 0u) << why;
  net.Settle();
  net.Crash(l);
  net.cut.clear();
  net.cut.insert(l);
  // The others elect a leader whose own no-op is not chosen yet.
  net.drop = [](const Message& m) { return m.type == MsgType::kAccepted; };
  NodeId l2 = 0;
  for (int i = 0; i < 100 && l2 == 0; i++) {
    net.Ticks(1);
    l2 = net.Leader();
  }
  ASSERT_NE(l2, 0u);
  EXPECT_EQ(net.nodes[l2]->ProposeMembership(M({1, 2, 3, 4, 5}), &why), 0u);
  EXPECT_NE(why.find("own ballot"), std::string::npos) << why;
  net.drop = nullptr;
  net.Ticks(3);
  ASSERT_TRUE(net.nodes[l2]->LeaderReady());
  ASSERT_GT(net.nodes[l2]->ProposeMembership(M({1, 2, 3, 4, 5}), &why), 0u) << why;
  net.Ticks(3);
  net.cut.clear();
  net.Restart(l);
  net.Ticks(30);
  // One history of memberships everywhere: the old leader's change, never
  // chosen, is gone from the node that proposed it too.
  for (NodeId id : {1u, 2u, 3u, 4u, 5u}) {
    EXPECT_EQ(net.nodes[id]->membership(), M({1, 2, 3, 4, 5})) << id;
    EXPECT_EQ(net.MembershipOf(id), M({1, 2, 3, 4, 5})) << id;
  }
}

TEST(Membership, ARemovedLeaderHandsOverAndNeverCampaigns) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, g] = Others(l);
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({f, g}), &why), 0u) << why;
  net.Settle();
  // TimeoutNow: the next leader is there at once, not an election timeout
  // (10 ticks and more) later.
  EXPECT_NE(net.nodes[l]->role(), Role::kLeader);
  NodeId l2 = net.Leader();
  EXPECT_TRUE(l2 == f || l2 == g) << l2;
  EXPECT_FALSE(net.nodes[l]->IsVoter());
  const Ballot b = net.nodes[l2]->promised();
  net.nodes[l2]->Propose("x");
  net.Ticks(200);
  EXPECT_EQ(net.Leader(), l2);
  EXPECT_EQ(net.nodes[l2]->promised(), b) << "the removed node disturbed the cluster";
  EXPECT_EQ(net.nodes[l]->role(), Role::kFollower);
  EXPECT_TRUE(Contains(net.Values(f), "x") && Contains(net.Values(g), "x"));
}

TEST(Membership, ARemovedNodeThatMissedItsRemovalCannotDisturb) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, x] = Others(l);
  net.Ticks(5);
  net.cut = {x};  // x never hears of its removal
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({l, f}), &why), 0u) << why;
  net.Ticks(60);  // the farewell is over too
  const Ballot b = net.nodes[l]->promised();
  net.cut.clear();
  net.Ticks(300);
  EXPECT_EQ(net.Leader(), l);
  EXPECT_EQ(net.nodes[l]->promised(), b);
  EXPECT_EQ(net.nodes[f]->promised(), b);
}

TEST(Membership, ALeadershipTransferEndsWithinAnElectionTimeout) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [t, other] = Others(l);
  (void)other;
  net.cut = {t};  // the target lags behind
  for (int i = 0; i < 5; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Ticks(3);
  net.cut.clear();
  std::string why;
  ASSERT_TRUE(net.nodes[l]->TransferLeadership(t, &why)) << why;
  EXPECT_EQ(net.nodes[l]->Propose("refused"), 0u) << "no proposals while handing over";
  int ticks = 0;
  while (net.Leader() != t && ticks < 10) {
    net.Ticks(1);
    ticks++;
  }
  EXPECT_EQ(net.Leader(), t) << "after " << ticks << " ticks";
  EXPECT_FALSE(net.nodes[l]->LeaseValid());
  net.Ticks(3);
  EXPECT_EQ(net.Values(t).size(), 5u);
  EXPECT_FALSE(net.nodes[t]->TransferLeadership(9, &why));
}

TEST(Membership, ATransferDoesNotOutliveItsLeadersLease) {
  // A TimeoutNow that arrives after its leader gave the transfer up must
  // find no lease: the leader stays without one for the rest of its ballot.
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [t, other] = Others(l);
  (void)other;
  std::vector<Message> held;
  net.drop = [&](const Message& m) {
    if (m.type != MsgType::kTimeoutNow) return false;
    held.push_back(m);
    return true;
  };
  std::string why;
  ASSERT_TRUE(net.nodes[l]->TransferLeadership(t, &why)) << why;
  net.Ticks(15);  // the transfer is given up
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(net.Leader(), l);
  EXPECT_GT(net.nodes[l]->Propose("again"), 0u);
  net.Ticks(3);
  EXPECT_FALSE(net.nodes[l]->LeaseValid());
  net.drop = nullptr;
  net.queue.push_back(held[0]);  // late: the target campaigns now
  net.Settle();
  EXPECT_EQ(net.Leader(), t);
}

// With several changes behind it, a candidate needs a quorum of every
// membership its Phase 1 turns up: the old voters alone could elect a
// leader that never heard of a value the new voters chose.
TEST(Membership, ACandidateNeedsAQuorumOfEveryMembershipItRecovers) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, g] = Others(l);
  net.cut = {g};  // g lags behind every change
  net.Ticks(1);
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u) << why;
  net.Ticks(3);
  Membership without_f = M({1, 2, 3, 4});
  without_f.voters.erase(std::find(without_f.voters.begin(), without_f.voters.end(), f));
  ASSERT_GT(net.nodes[l]->ProposeMembership(without_f, &why), 0u) << why;
  net.Ticks(3);
  ASSERT_EQ(net.nodes[l]->membership(), without_f);
  net.cut = {g, f};
  const Slot x = net.nodes[l]->Propose("x");  // chosen by the leader and 4
  net.Ticks(2);
  ASSERT_GE(net.nodes[l]->commit(), x);
  net.Crash(l);
  net.cut = {l, 4};
  // g and f make a quorum of the first voters, not of the later ones.
  net.Ticks(100);
  for (NodeId id : {f, g}) EXPECT_NE(net.nodes[id]->role(), Role::kLeader) << id;
  net.cut = {l};
  net.Ticks(100);
  ASSERT_NE(net.Leader(), 0u);
  EXPECT_TRUE(Contains(net.Values(g), "x"));
  EXPECT_TRUE(Contains(net.Values(4), "x"));
}

TEST(Membership, ALearnerThatJoinsLateGetsASnapshotWithTheMembership) {
  Net net(3);
  net.Ticks(30);
  const NodeId l = net.Leader();
  for (int i = 0; i < 20; i++) net.nodes[l]->Propose("v" + std::to_string(i));
  net.Settle();
  net.Ticks(3);
  for (NodeId id : {1u, 2u, 3u}) net.nodes[id]->Compact(net.nodes[id]->applied());
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3}, {4}), &why), 0u) << why;
  net.Add(4);
  net.Ticks(5);
  ASSERT_FALSE(net.snapshot_requests.empty());
  EXPECT_EQ(net.snapshot_requests.back(), std::make_pair(l, NodeId{4}));
  net.applied[4] = net.applied[l];
  Slot since = 0;
  const Membership m = net.MembershipOf(l, &since);
  net.nodes[4]->SnapshotInstalled(net.applied[4].back().slot, l, m, since);
  EXPECT_EQ(net.nodes[4]->membership(), M({1, 2, 3}, {4}));
  net.nodes[l]->Propose("after");
  net.Ticks(3);
  EXPECT_EQ(net.Values(4).size(), 21u);
  EXPECT_EQ(net.Values(4).back(), "after");
}

// A change proposed by a leader that was then cut off, recovered later by
// another leader into a history that moved on (another change was chosen
// meanwhile), must not take effect: it would undo that change.
TEST(Membership, AStaleChangeRecoveredByALaterLeaderChangesNothing) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, g] = Others(l);
  net.cut = {f, g, 4};
  for (int i = 0; i < 5; i++) net.nodes[l]->Propose("a" + std::to_string(i));
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u) << why;  // promote 4
  net.Settle();
  net.Crash(l);
  net.cut = {l};
  NodeId l2 = 0;
  for (int i = 0; i < 100 && l2 == 0; i++) {
    net.Ticks(1);
    l2 = net.Leader();
  }
  ASSERT_NE(l2, 0u);
  ASSERT_GT(net.nodes[l2]->ProposeMembership(M({1, 2, 3}), &why), 0u) << why;  // remove learner 4
  net.Ticks(3);
  net.nodes[l2]->Propose("b");
  net.Ticks(3);
  // l2 goes; l comes back with its old entries, and a leader elected by l
  // and the third node recovers them after l2's.
  const NodeId third = l2 == f ? g : f;
  net.Crash(l2);
  net.cut = {l2};
  net.Restart(l);
  net.Ticks(100);
  ASSERT_NE(net.Leader(), 0u);
  net.Ticks(3);
  for (NodeId id : {l, third}) {
    EXPECT_TRUE(Contains(net.Values(id), "a4")) << id;  // l's values were recovered
    EXPECT_EQ(net.nodes[id]->membership(), M({1, 2, 3})) << id;
    EXPECT_EQ(net.MembershipOf(id), M({1, 2, 3})) << id;
  }
}

// A voter that missed a change votes for a candidate it does not know when
// the candidate knows more of the chosen log: else the voters of the new
// membership could never elect a leader without the old ones.
TEST(Membership, AVoterThatMissedAChangeVotesForANewVoterThatKnowsMore) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  auto [f, g] = Others(l);
  net.cut = {f};
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u) << why;
  net.Ticks(2);
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({l, f, 4}), &why), 0u) << why;  // g leaves
  net.Ticks(3);
  ASSERT_EQ(net.nodes[4]->membership(), M({l, f, 4}));
  ASSERT_EQ(net.nodes[f]->membership(), M({1, 2, 3}, {4})) << "f missed both changes";
  net.Crash(g);
  net.Crash(l);
  net.cut.clear();
  net.cut = {g, l};
  net.Ticks(100);
  const NodeId leader = net.Leader();
  EXPECT_TRUE(leader == f || leader == 4) << leader;
}

// A leader that removes itself leads on until the new voters know the
// change is chosen: stopped right after, it leaves a cluster that can
// elect a leader without it.
TEST(Membership, ARemovedLeaderLeavesOnlyOnceTheNewVotersKnow) {
  Net net(2);
  net.Ticks(30);
  const NodeId l = net.Leader();
  const NodeId other = l == 1 ? 2 : 1;
  net.drop = [](const Message& m) { return m.type == MsgType::kTimeoutNow; };
  std::string why;
  ASSERT_GT(net.nodes[l]->ProposeMembership(M({other}), &why), 0u) << why;
  net.Settle();
  int ticks = 0;
  while (net.nodes[l]->role() == Role::kLeader && ticks < 20) {
    net.Ticks(1);
    ticks++;
  }
  ASSERT_NE(net.nodes[l]->role(), Role::kLeader);
  EXPECT_EQ(net.nodes[other]->membership(), M({other}));
  net.Crash(l);
  net.cut = {l};
  net.Ticks(60);
  EXPECT_EQ(net.Leader(), other);
}

TEST(Membership, ALearnerNotHeardFromIsNotPromoted) {
  Net net(3, Net::Learners{1});
  net.Ticks(30);
  const NodeId l = net.Leader();
  net.cut = {4};
  net.Ticks(25);
  std::string why;
  EXPECT_EQ(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u);
  EXPECT_NE(why.find("not heard"), std::string::npos) << why;
  net.cut.clear();
  net.Ticks(3);
  EXPECT_GT(net.nodes[l]->ProposeMembership(M({1, 2, 3, 4}), &why), 0u) << why;
}

}  // namespace
}  // namespace kvgo::consensus
