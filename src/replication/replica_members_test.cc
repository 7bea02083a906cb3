// Membership changes and leadership transfer through production Replicas
// (replica_cluster.h): the change is applied into each node's store, kept
// across restarts and carried by snapshots.
#include <gtest/gtest.h>

#include "replication/replica.h"
#include "replication/replica_cluster.h"

namespace kvgo::replication {
namespace {

using testing::ClusterOptions;
using testing::ReplicaCluster;

consensus::Membership M(std::vector<consensus::NodeId> voters, std::vector<consensus::NodeId> learners = {}) {
  consensus::Membership m{std::move(voters), std::move(learners)};
  m.Normalize();
  return m;
}

// Writes one key through `node` and waits for its answer.
Status Write(ReplicaCluster& c, size_t node, const std::string& key) {
  auto answer = c.Submit(node, c.Put(key, "v"));
  if (!c.RunUntil([&] { return answer->has_value(); })) return absl::DeadlineExceededError("no answer");
  return (*answer)->status();
}

Status Change(ReplicaCluster& c, size_t node, consensus::Membership next) {
  auto answer = c.ChangeMembership(node, std::move(next));
  if (!c.RunUntil([&] { return answer->has_value(); })) return absl::DeadlineExceededError("no answer");
  return **answer;
}

TEST(ReplicaMembership, ARemovedVoterLeavesTheOthersServingAndTheChangeSurvivesRestarts) {
  ReplicaCluster c("members-remove", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t gone = (*leader + 1) % 3, other = (*leader + 2) % 3;
  ASSERT_TRUE(Write(c, other, "before").ok());
  const consensus::Membership two = M({c.id(*leader), c.id(other)});
  ASSERT_TRUE(Change(c, *leader, two).ok());
  EXPECT_TRUE(c.ChangeMembership(other, M({c.id(*leader)})).get()->has_value()) << "a follower answers at once";
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
  for (size_t i = 0; i < 3; i++) EXPECT_EQ(c.view(i).membership, two) << i;
  // The removed node is down for good: the two voters left serve alone.
  c.Crash(gone);
  EXPECT_TRUE(Write(c, other, "after").ok());
  for (size_t i : {*leader, other}) {
    c.Crash(i);
    c.Restart(i);
  }
  ASSERT_TRUE(c.WaitForLeader().has_value());
  for (size_t i : {*leader, other}) EXPECT_EQ(c.view(i).membership, two) << i;
  EXPECT_TRUE(Write(c, other, "after-restart").ok());
}

// Each change is computed from the one before (consensus::TakesEffect):
// after a restart, the state machine must know which one that is.
TEST(ReplicaMembership, ChangesAfterRestartsTakeEffectAndStay) {
  ReplicaCluster c("members-restart", ClusterOptions{});
  auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t x = (*leader + 1) % 3;
  std::vector<consensus::NodeId> all = {c.id(0), c.id(1), c.id(2)};
  std::vector<consensus::NodeId> rest;
  for (auto id : all) {
    if (id != c.id(x)) rest.push_back(id);
  }
  const consensus::Membership demoted = M(rest, {c.id(x)}), back = M(all);
  ASSERT_TRUE(Change(c, *leader, demoted).ok());
  for (const auto& want : {back, demoted}) {
    ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
    for (size_t i = 0; i < 3; i++) {
      c.Crash(i);
      c.Restart(i);
    }
    leader = c.WaitForLeader();
    ASSERT_TRUE(leader.has_value());
    ASSERT_TRUE(Change(c, *leader, want).ok());
  }
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
  for (size_t i = 0; i < 3; i++) {
    c.Crash(i);
    c.Restart(i);
    EXPECT_EQ(c.view(i).membership, demoted) << i;
  }
  EXPECT_EQ(c.Digest(0), c.Digest(1));
  EXPECT_EQ(c.Digest(0), c.Digest(2));
}

TEST(ReplicaMembership, ALeaderThatRemovesItselfHandsOverAndTheClusterGoesOn) {
  ReplicaCluster c("members-leader", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t a = (*leader + 1) % 3, b = (*leader + 2) % 3;
  const auto start = c.clock().SteadyNow();
  ASSERT_TRUE(Change(c, *leader, M({c.id(a), c.id(b)})).ok());
  ASSERT_TRUE(c.RunUntil([&] {
    const auto l = c.view(a).leader;
    return l == c.id(a) || l == c.id(b);
  }));
  // TimeoutNow: no election timeout (1 s here) is waited out.
  EXPECT_LT(c.clock().SteadyNow() - start, std::chrono::milliseconds(1000));
  EXPECT_TRUE(Write(c, a, "k").ok());
  const Status s = Write(c, *leader, "through-the-removed-node");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("not a member"), std::string_view::npos) << s;
}

TEST(ReplicaMembership, ALeadershipTransferMovesTheLeader) {
  ReplicaCluster c("members-transfer", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t to = (*leader + 1) % 3;
  ASSERT_TRUE(c.TransferLeadership(*leader, to).ok());
  ASSERT_TRUE(c.RunUntil([&] { return c.view(to).leader_ready; }, std::chrono::milliseconds(1000)));
  EXPECT_FALSE(c.TransferLeadership(to, to).ok());
  EXPECT_TRUE(Write(c, *leader, "k").ok());
}

TEST(ReplicaMembership, ASnapshotCarriesTheMembership) {
  ClusterOptions o;
  o.log_keep_entries = 4;
  ReplicaCluster c("members-snapshot", o);
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t lagging = (*leader + 1) % 3, other = (*leader + 2) % 3;
  c.Isolate(lagging);
  // Demoted while cut off: it learns of it only from a snapshot.
  const consensus::Membership next = M({c.id(*leader), c.id(other)}, {c.id(lagging)});
  ASSERT_TRUE(Change(c, *leader, next).ok());
  for (int i = 0; i < 20; i++) ASSERT_TRUE(Write(c, other, "k" + std::to_string(i)).ok());
  const uint64_t installed = c.snapshots_installed();
  c.HealLinks();
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied() && c.snapshots_installed() > installed; }));
  EXPECT_EQ(c.view(lagging).membership, next);
  c.Crash(lagging);
  c.Restart(lagging);
  EXPECT_EQ(c.view(lagging).membership, next);
  EXPECT_EQ(c.Digest(lagging), c.Digest(*leader));
}

}  // namespace
}  // namespace kvgo::replication
