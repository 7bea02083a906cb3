// The short nemesis that `make test` runs: two runs on a 3-node cluster
// with kills and pauses; `make nemesis` runs longer ones.
#include <gtest/gtest.h>

#include "nemesis.h"

namespace kvgo::nemesis {
namespace {

TEST(Nemesis, ShortRunsAreLinearizableAndLoseNothing) {
  for (uint64_t seed : {11, 12}) {
    Options o;
    o.seed = seed;
    o.ops = 600;
    o.seconds = 10;
    RunResult r = nemesis::Run(o);
    EXPECT_TRUE(r.error.empty()) << r.error << " (history in " << r.kept << ")";
    EXPECT_TRUE(r.linearizable) << "key " << r.bad_key << " (history in " << r.kept << ")";
    EXPECT_EQ(r.lost, 0) << "history in " << r.kept;
    EXPECT_GT(r.faults, 0) << "no fault was injected: the run was too short";
    EXPECT_GT(r.ok_writes, 50);
    std::printf("seed %llu: %d ops, %d acknowledged writes, %d unknown, %d kills, %d pauses\n",
                static_cast<unsigned long long>(seed), r.ops, r.ok_writes, r.unknown, r.kills, r.pauses);
  }
}

}  // namespace
}  // namespace kvgo::nemesis
