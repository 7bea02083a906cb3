// The short nemesis that `make test` runs: one 3-node run with kills,
// power losses, pauses, slow disks and clock jumps, two with network partitions too, and
// one on 5 nodes; `make nemesis` runs longer ones.
#include "nemesis.h"

#include <gtest/gtest.h>

#include "network.h"

namespace kvgo::nemesis {
namespace {

// Why partitions cannot be made here ("" = they can): no root, no
// network namespace, or no nftables.
std::string isolate_error;
bool partitions_possible = false;

// Runs the nemesis once, expects a clean result. The seeds below are
// chosen so that the first faults of their schedules (drawn from the seed
// alone) are of the kinds each test is about.
RunResult ExpectClean(const Options& o) {
  RunResult r = nemesis::Run(o);
  EXPECT_TRUE(r.error.empty()) << r.error << " (history in " << r.kept << ")";
  EXPECT_TRUE(r.linearizable) << "key " << r.bad_key << " (history in " << r.kept << ")";
  EXPECT_EQ(r.lost, 0) << "history in " << r.kept;
  EXPECT_GT(r.faults, 0) << "no fault was injected: the run was too short";
  EXPECT_GT(r.ok_writes, 50);
  std::printf(
      "seed %llu, %d nodes: %d ops, %d acknowledged writes, %d "
      "unknown, %d kills, %d power losses, %d pauses, %d partitions, %d slow disks, %d clock jumps\n",
      static_cast<unsigned long long>(o.seed), o.nodes, r.ops, r.ok_writes, r.unknown, r.kills, r.power_losses,
      r.pauses, r.partitions, r.slow_disks, r.clock_jumps);
  return r;
}

TEST(Nemesis, ThreeNodesKillsPowerLossesPausesSlowDisksClockJumps) {
  Options o;
  o.seed = 5;  // kill, power loss, slow disk, clock jump, pause
  o.ops = 600;
  o.seconds = 10;
  RunResult r = ExpectClean(o);
  EXPECT_GE(r.kills, 1);
  EXPECT_GE(r.power_losses, 1);
  EXPECT_GE(r.clock_jumps, 1);
}

TEST(Nemesis, ThreeNodesAllFaultsWithPartitions) {
  if (!partitions_possible) GTEST_SKIP() << "no network partitions here: " << isolate_error;
  int partitions = 0;
  for (uint64_t seed : {5, 22}) {  // both start with a partition
    Options o;
    o.seed = seed;
    o.ops = 600;
    o.seconds = 10;
    o.partitions = true;
    partitions += ExpectClean(o).partitions;
  }
  EXPECT_GE(partitions, 2) << "too few partitions were injected";
}

TEST(Nemesis, FiveNodesAllFaultsWithPartitions) {
  if (!partitions_possible) GTEST_SKIP() << "no network partitions here: " << isolate_error;
  Options o;
  o.seed = 3;  // clock jump, partition, partition, kill
  o.nodes = 5;
  o.ops = 600;
  o.seconds = 10;
  o.partitions = true;
  EXPECT_GE(ExpectClean(o).partitions, 1) << "no partition was injected";
}

}  // namespace
}  // namespace kvgo::nemesis

// Partitions need the whole test in a network namespace of its own, made
// before gRPC starts any thread.
int main(int argc, char** argv) {
  namespace n = kvgo::nemesis;
  if (n::IsolateNetwork(&n::isolate_error)) {
    n::Partitions probe;  // can nftables make rules here?
    n::partitions_possible = probe.Setup(3, &n::isolate_error);
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
