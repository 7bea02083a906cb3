// Replica: three production Replicas in one thread, over an in-process
// network (replica_cluster.h), each with its own LevelDB store and Paxos WAL.
#include "replication/replica.h"

#include <gtest/gtest.h>

#include "common/kvspec.h"
#include "replication/replica_cluster.h"

namespace kvgo::replication {
namespace {

using testing::ClusterFaults;
using testing::ClusterOptions;
using testing::ReplicaCluster;

TEST(Replica, AWriteThroughAFollowerIsForwardedAppliedEverywhereAndAnswered) {
  ReplicaCluster c("forward", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t follower = (*leader + 1) % 3;
  auto answer = c.Submit(follower, c.Put("k1", "v1"));
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_TRUE((*answer)->ok()) << (*answer)->status();
  EXPECT_EQ((**answer)->results(0).status(), 1u) << (**answer)->results(0).message();
  EXPECT_EQ(c.forward_calls(follower), 1u);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
  EXPECT_EQ(c.Digest(0), c.Digest(1));
  EXPECT_EQ(c.Digest(0), c.Digest(2));
  EXPECT_NE(c.Digest(0), c.EmptyDigest());
}

TEST(Replica, ARefusedForwardIsRetriedAfterATickAndAppliedOnce) {
  ReplicaCluster c("bounce", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t follower = (*leader + 1) % 3;
  // The leader's side answers the first forward "not the leader", as a
  // deposed leader does: certainly not applied, so the follower retries.
  c.BounceNextForward(follower);
  const uint64_t applied_before = c.view(*leader).applied;
  auto answer = c.Submit(follower, c.Put("k1", "v1"));
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_TRUE((*answer)->ok()) << (*answer)->status();
  EXPECT_EQ(c.forward_calls(follower), 2u);
  // One entry for the write (no second copy of it).
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
  EXPECT_EQ(c.view(*leader).applied, applied_before + 1);
}

TEST(Replica, AForwardWithAnUnknownOutcomeIsAnsweredUnknownAndNeverRetried) {
  ReplicaCluster c("unknown", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t follower = (*leader + 1) % 3;
  // The leader gets the write, but the follower hears only that the call
  // failed: the write may have been applied, so retrying it could apply it
  // twice.
  c.LoseNextForwardReply(follower);
  const uint64_t applied_before = c.view(*leader).applied;
  auto answer = c.Submit(follower, c.Put("k1", "v1"));
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_FALSE((*answer)->ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded((*answer)->status())) << (*answer)->status();
  EXPECT_EQ(c.forward_calls(follower), 1u);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied() && c.view(*leader).applied == applied_before + 1; }));
}

TEST(Replica, ALeaderReadIndexCoversEveryAnsweredWrite) {
  ReplicaCluster c("read", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  auto answer = c.Submit(*leader, c.Put("k1", "v1"));
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_TRUE((*answer)->ok());
  const uint64_t applied = c.view(*leader).applied;
  auto index = c.LeaderRead(*leader);
  ASSERT_TRUE(c.RunUntil([&] { return index->has_value(); }));
  ASSERT_TRUE((*index)->ok()) << (*index)->status();
  EXPECT_GE(***index, applied);
}

TEST(Replica, AWriteIsAnsweredOnlyOnceItsSlotIsPublishedAsApplied) {
  // A leader under its lease answers a follower's read index with its
  // published applied slot: it must cover every write already answered.
  ReplicaCluster c("published", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const uint64_t before = c.view(*leader).applied;
  std::optional<consensus::Slot> published_at_answer;
  c.Submit(*leader, c.Put("k1", "v1"), [&](StatusOr<storage::pb::CommandResult> res) {
    ASSERT_TRUE(res.ok()) << res.status();
    published_at_answer = c.published_applied(*leader);
  });
  ASSERT_TRUE(c.RunUntil([&] { return published_at_answer.has_value(); }));
  // The write's slot is before + 1 (nothing else was proposed).
  EXPECT_GE(*published_at_answer, before + 1);
}

TEST(Replica, WritesWithoutALeaderAreParkedThenRefusedAsNotApplied) {
  ReplicaCluster c("parked", ClusterOptions{});
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t follower = (*leader + 1) % 3;
  c.Isolate(follower);
  auto answer = c.Submit(follower, c.Put("k1", "v1"));
  // Parked, not refused at once: a leader may come back within the limit.
  c.RunFor(std::chrono::milliseconds(500));
  EXPECT_FALSE(answer->has_value());
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_FALSE((*answer)->ok());
  EXPECT_TRUE(absl::IsUnavailable((*answer)->status())) << (*answer)->status();
  EXPECT_EQ(c.forward_calls(follower), 0u);
}

// A node further behind than the kept log catches up from a snapshot the
// leader streams to it, also when the first stream breaks (its chunks
// lost): the aborted install is wiped and a new snapshot sent.
TEST(Replica, ANodeBehindTheKeptLogCatchesUpFromASnapshot) {
  ClusterOptions o;
  o.log_keep_entries = 10;
  ReplicaCluster c("snapshot", o);
  const auto leader = c.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const size_t behind = (*leader + 1) % 3;
  c.Isolate(behind);
  // Values big enough for several 1 MiB chunks.
  const std::string big(300 * 1024, 'v');
  for (int i = 0; i < 40; i++) {
    auto answer = c.Submit(*leader, c.Put("k" + std::to_string(i), big + std::to_string(i)));
    ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
    ASSERT_TRUE((*answer)->ok()) << (*answer)->status();
  }
  ASSERT_TRUE(c.RunUntil([&] { return c.view(*leader).compacted > 10; }));
  // A lossy network for a while: a stream of a dozen chunks breaks.
  ClusterFaults lossy;
  lossy.drop = 0.2;
  c.SetFaults(lossy);
  c.HealLinks();
  ASSERT_TRUE(c.RunUntil([&] { return c.view(behind).installs_aborted > 0; }));
  c.SetFaults(ClusterFaults{});
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied() && c.view(behind).applied == c.view(*leader).applied; },
                         std::chrono::milliseconds(60000)));
  EXPECT_GE(c.view(behind).snapshots_received, 1u);
  EXPECT_EQ(c.Digest(behind), c.Digest(*leader));
  EXPECT_EQ(c.Digest((*leader + 2) % 3), c.Digest(*leader));
}

// Every node loses power at once, after answered writes whose applied
// data LevelDB had not synced yet: the Paxos WAL brings all of them back.
// The same run with a WAL that does not sync loses some (so the cut did cut).
TEST(Replica, AWholeClusterPowerCutLosesNoAnsweredWrite) {
  for (bool bug : {false, true}) {
    ClusterOptions o;
    o.log_keep_entries = 4;  // compactions (synced LevelDB writes) go on too
    o.bug_skip_log_sync = bug;
    ReplicaCluster c(bug ? "power-bug" : "power", o);
    const auto leader = c.WaitForLeader();
    ASSERT_TRUE(leader.has_value());
    for (int i = 0; i < 30; i++) {
      auto answer = c.Submit(i % 3, c.Put("k" + std::to_string(i % 7), "v" + std::to_string(i)));
      ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
      ASSERT_TRUE((*answer)->ok()) << (*answer)->status();
    }
    ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
    const std::string before = c.Digest(*leader);
    for (size_t n = 0; n < 3; n++) c.PowerCut(n);
    EXPECT_EQ(c.power_cuts(), 3u);
    EXPECT_GT(c.bytes_lost(), 0u);
    for (size_t n = 0; n < 3; n++) c.Restart(n);
    ASSERT_TRUE(c.WaitForLeader().has_value());
    ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
    if (bug) {
      EXPECT_NE(c.Digest(0), before) << "the planted bug lost nothing: the power cut is not modelled";
      continue;
    }
    for (size_t n = 0; n < 3; n++) EXPECT_EQ(c.Digest(n), before) << "node " << n + 1;
  }
}

// The value of `key` that node `node` reads (linearizably), "" if absent.
std::string ReadKey(ReplicaCluster& c, size_t node, const std::string& key) {
  lynkdb::kvspec::v2::ObjectReader reader;
  reader.set_mode(kvspec::kReadModeKey);
  reader.set_table_name("main");
  reader.add_keys(key);
  auto got = std::make_shared<std::optional<std::string>>();
  c.Read(node, reader, c.clock().SteadyNow() + std::chrono::seconds(5),
         [got](StatusOr<lynkdb::kvspec::v2::ObjectResult> r) {
           if (!r.ok()) return;
           *got = r->items_size() > 0 ? r->items(0).data().value() : "";
         });
  EXPECT_TRUE(c.RunUntil([&] { return got->has_value(); })) << "no answer from node " << node + 1;
  return got->value_or("(none)");
}

// The leader's log write takes 3 s, longer than an election timeout: it
// takes no input meanwhile and another node is elected.
TEST(Replica, ALeaderInALongFsyncIsReplacedAndItsWriteIsChosen) {
  ReplicaCluster c("stall", ClusterOptions{});
  const auto old = c.WaitForLeader();
  ASSERT_TRUE(old.has_value());
  c.SlowNextFsync(*old, 3000);
  auto answer = c.Submit(*old, c.Put("k", "v"));
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (size_t n = 0; n < 3; n++) {
          if (n != *old && c.view(n).leader_ready) return true;
        }
        return false;
      },
      std::chrono::milliseconds(2900)));
  EXPECT_FALSE(answer->has_value()) << "answered during its fsync";
  EXPECT_EQ(c.slow_fsyncs(), 1u);
  ASSERT_TRUE(c.RunUntil([&] { return answer->has_value(); }));
  ASSERT_TRUE(c.RunUntil([&] { return c.AllApplied(); }));
  for (size_t n = 0; n < 3; n++) EXPECT_EQ(c.Digest(n), c.Digest(*old));
  // Its Accepts left before its own write: the followers accepted it, so
  // the new leader must choose it. The old leader cannot tell: it answers
  // "outcome unknown" (or OK), never a failure.
  EXPECT_TRUE((*answer)->ok() || absl::IsDeadlineExceeded((*answer)->status())) << (*answer)->status();
  for (size_t n = 0; n < 3; n++) EXPECT_EQ(ReadKey(c, n, "k"), "v") << "node " << n + 1;
}

// A leader is cut off from the others while a client still reaches it and
// reads a key from its lease; the others elect a new leader and change the
// key. Returns how many reads the old leader answered with the old value
// after the new value was acknowledged, with the old leader's clock and
// the others' running at the rates given.
int StaleReadsFromACutOffLeader(double leader_rate, double others_rate) {
  struct Seen {
    int64_t acked_at = -1;  // when the new value was acknowledged
    int served = 0, stale = 0;
  };
  auto seen = std::make_shared<Seen>();
  ReplicaCluster c("lease", ClusterOptions{});
  const auto old = c.WaitForLeader();
  if (!old.has_value()) {
    ADD_FAILURE() << "no leader";
    return -1;
  }
  for (size_t n = 0; n < 3; n++) c.SetClockRate(n, n == *old ? leader_rate : others_rate);
  auto first = c.Submit(*old, c.Put("k", "v1"));
  EXPECT_TRUE(c.RunUntil([&] { return first->has_value() && (*first)->ok(); }));
  c.RunFor(std::chrono::milliseconds(1000));  // heartbeats at the new rates
  c.Isolate(*old);

  lynkdb::kvspec::v2::ObjectReader reader;
  reader.set_mode(kvspec::kReadModeKey);
  reader.set_table_name("main");
  reader.add_keys("k");
  ReplicaCluster::Answer<storage::pb::CommandResult> write;
  const int64_t end = c.clock().MonotonicMs() + 6000;
  while (c.clock().MonotonicMs() < end) {
    const int64_t now = c.clock().MonotonicMs();
    if (write != nullptr && write->has_value() && (*write)->ok() && seen->acked_at < 0) seen->acked_at = now;
    if (write == nullptr || (write->has_value() && !(*write)->ok())) {
      for (size_t n = 0; n < 3; n++) {
        if (n != *old && c.view(n).leader_ready) write = c.Submit(n, c.Put("k", "v2"));
      }
    }
    c.Read(*old, reader, c.clock().SteadyNow() + std::chrono::seconds(1),
           [seen, now](StatusOr<lynkdb::kvspec::v2::ObjectResult> r) {
             if (!r.ok() || r->status() != kvspec::kStatusOK || r->items_size() == 0) return;
             seen->served++;
             if (seen->acked_at >= 0 && now > seen->acked_at && r->items(0).data().value() == "v1") seen->stale++;
           });
    c.RunFor(std::chrono::milliseconds(5));
  }
  EXPECT_GE(seen->acked_at, 0) << "no new leader took the write";
  EXPECT_GT(seen->served, 0) << "the cut-off leader served no read from its lease";
  return seen->stale;
}

// The lease ends 2 of 10 election ticks early: enough for clocks 10% apart
// each way (8 ticks at 0.9 end before 10 ticks at 1.1 do). Beyond the
// margin the same scenario reads stale data: this test, and the
// simulator's linearizability check, see a lease that is too long.
TEST(Replica, ALeaderLeaseHoldsWhileClocksDriftWithinItsMargin) {
  EXPECT_EQ(StaleReadsFromACutOffLeader(0.9, 1.1), 0);
  EXPECT_GT(StaleReadsFromACutOffLeader(0.4, 1.5), 0);
}

}  // namespace
}  // namespace kvgo::replication
