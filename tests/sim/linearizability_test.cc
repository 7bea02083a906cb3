#include "linearizability.h"

#include <gtest/gtest.h>

namespace kvgo::sim {
namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max();

Operation W(const std::string& v, int64_t call, int64_t ret, int client = 0) {
  return Operation{client, true, "k", v, call, ret};
}
Operation R(const std::string& v, int64_t call, int64_t ret, int client = 1) {
  return Operation{client, false, "k", v, call, ret};
}

TEST(Linearizability, SequentialHistories) {
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), R("a", 2, 3), W("b", 4, 5), R("b", 6, 7)}));
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), W("b", 2, 3), R("a", 4, 5)}));  // stale read
  EXPECT_TRUE(CheckRegister({R("", 0, 1), W("a", 2, 3)}));
  EXPECT_FALSE(CheckRegister({R("a", 0, 1), W("a", 2, 3)}));  // read from the future
}

TEST(Linearizability, ConcurrentOverlaps) {
  // A read overlapping a write may see either value.
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), W("b", 2, 10), R("a", 3, 4)}));
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), W("b", 2, 10), R("b", 3, 4)}));
  // ...but once a read saw the new value, a later read cannot see the old.
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), W("b", 2, 10), R("b", 3, 4), R("a", 5, 6, 2)}));
  // Two concurrent writes, reads see them in one order only.
  EXPECT_TRUE(CheckRegister({W("x", 0, 10), W("y", 0, 10, 2), R("x", 11, 12), R("x", 13, 14)}));
  EXPECT_FALSE(CheckRegister({W("x", 0, 10), W("y", 0, 10, 2), R("x", 11, 12), R("y", 13, 14),
                              R("x", 15, 16)}));
}

TEST(Linearizability, TimedOutOperations) {
  // A timed-out write may take effect late...
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), W("b", 2, kInf), R("a", 3, 4), R("b", 100, 101)}));
  // ...or never.
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), W("b", 2, kInf), R("a", 3, 4), R("a", 100, 101)}));
  // But not before it was invoked.
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), R("b", 2, 3), W("b", 4, kInf)}));
}

TEST(Linearizability, PerKeyAndLargerHistories) {
  std::vector<Operation> h;
  // 3 clients, 30 ops on two keys, all sequentially consistent with the clock.
  int64_t t = 0;
  for (int i = 0; i < 15; i++) {
    h.push_back(Operation{i % 3, true, "k1", "v" + std::to_string(i), t, t + 1});
    h.push_back(Operation{(i + 1) % 3, false, "k1", "v" + std::to_string(i), t + 2, t + 3});
    t += 4;
  }
  EXPECT_TRUE(CheckLinearizable(h).ok);
  h.push_back(Operation{0, false, "k2", "ghost", t, t + 1});
  auto r = CheckLinearizable(h);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.key, "k2");
}

}  // namespace
}  // namespace kvgo::sim
