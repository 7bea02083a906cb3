#include "linearizability.h"

#include <gtest/gtest.h>

namespace kvgo::sim {
namespace {

constexpr int64_t kInf = std::numeric_limits<int64_t>::max();

Operation Op(int client, bool write, const std::string& key, const std::string& v, int64_t call, int64_t ret) {
  Operation op;
  op.client = client;
  op.write = write;
  op.key = key;
  op.value = v;
  op.invoke = call;
  op.response = ret;
  return op;
}
Operation W(const std::string& v, int64_t call, int64_t ret, int client = 0) {
  return Op(client, true, "k", v, call, ret);
}
Operation R(const std::string& v, int64_t call, int64_t ret, int client = 1) {
  return Op(client, false, "k", v, call, ret);
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
  EXPECT_FALSE(CheckRegister({W("x", 0, 10), W("y", 0, 10, 2), R("x", 11, 12), R("y", 13, 14), R("x", 15, 16)}));
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
    h.push_back(Op(i % 3, true, "k1", "v" + std::to_string(i), t, t + 1));
    h.push_back(Op((i + 1) % 3, false, "k1", "v" + std::to_string(i), t + 2, t + 3));
    t += 4;
  }
  EXPECT_TRUE(CheckLinearizable(h).ok);
  h.push_back(Op(0, false, "k2", "ghost", t, t + 1));
  auto r = CheckLinearizable(h);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.key, "k2");
}

Operation Create(const std::string& v, int64_t call, int64_t ret) {
  Operation op = W(v, call, ret);
  op.effect = Operation::Effect::kCreate;
  return op;
}
Operation Cas(const std::string& expected, const std::string& v, int64_t call, int64_t ret, bool refused = false) {
  Operation op = W(v, call, ret);
  op.effect = Operation::Effect::kCas;
  op.expected = expected;
  op.refused = refused;
  return op;
}

TEST(Linearizability, CreateWritesOnlyWhenAbsent) {
  EXPECT_TRUE(CheckRegister({Create("a", 0, 1), R("a", 2, 3)}));
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), Create("b", 2, 3), R("a", 4, 5)}));
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), Create("b", 2, 3), R("b", 4, 5)}));  // created over a value
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), W("", 2, 3), Create("b", 4, 5), R("b", 6, 7)}));
}

TEST(Linearizability, CasWritesOnlyOverTheExpectedValueOrNothing) {
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), Cas("a", "b", 2, 3), R("b", 4, 5)}));
  EXPECT_TRUE(CheckRegister({Cas("a", "b", 0, 1), R("b", 2, 3)}));                 // absent: not checked
  EXPECT_FALSE(CheckRegister({W("x", 0, 1), Cas("a", "b", 2, 3), R("b", 4, 5)}));  // acked over x
  // A refusal observes a value that is neither the expected one nor absent.
  EXPECT_TRUE(CheckRegister({W("x", 0, 1), Cas("a", "b", 2, 3, true), R("x", 4, 5)}));
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), Cas("a", "b", 2, 3, true)}));  // refused although it held a
  EXPECT_FALSE(CheckRegister({Cas("a", "b", 0, 1, true)}));                // refused on an absent key
  // Concurrent with the write that makes it possible, it may go either way.
  EXPECT_TRUE(CheckRegister({W("x", 0, 1), W("a", 2, 10), Cas("a", "b", 3, 4), R("b", 11, 12)}));
  EXPECT_TRUE(CheckRegister({W("x", 0, 1), W("a", 2, 10), Cas("a", "b", 3, 4, true), R("a", 11, 12)}));
  // A timed-out CAS may take effect late, but only over what it expects.
  EXPECT_TRUE(CheckRegister({W("a", 0, 1), Cas("a", "b", 2, kInf), R("a", 3, 4), R("b", 5, 6)}));
  EXPECT_FALSE(CheckRegister({W("a", 0, 1), Cas("a", "b", 2, kInf), W("x", 3, 4), R("b", 5, 6)}));
}

}  // namespace
}  // namespace kvgo::sim
