// Committer: group commit of concurrent writers.
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

TEST_F(EngineTest, ConcurrentWritersShareGroups) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        ASSERT_EQ(e->Put("t" + std::to_string(t) + "-" + std::to_string(i), "v").status(), kvspec::kStatusOK);
      }
    });
  }
  for (auto& t : ts) t.join();
  auto s = e->committer->stats();
  EXPECT_EQ(s.commands, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(s.groups, s.commands);  // some fsyncs were shared
  // Every version is unique: the log holds exactly one entry per key.
  EXPECT_EQ(e->Log(0, 100000).items_size(), kThreads * kPerThread);
}

}  // namespace
}  // namespace kvgo::storage
