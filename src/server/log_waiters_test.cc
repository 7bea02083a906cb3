#include "server/log_waiters.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace kvgo::server {
namespace {

using Clock = std::chrono::steady_clock;

// Waits (bounded) until `flag` is set.
bool WaitFor(const std::atomic<bool>& flag, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!flag && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return flag;
}

TEST(LogWaiters, FiresWhenTheTablesLogMoves) {
  storage::Catalog catalog;
  catalog.PutLogVersions({{10, 105}});
  LogWaiters w(&catalog);
  std::atomic<bool> fired{false}, other{false};
  w.Add(10, 105, Clock::now() + std::chrono::seconds(30), [&] { fired = true; });
  w.Add(11, 0, Clock::now() + std::chrono::seconds(30), [&] { other = true; });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(fired);
  catalog.PutLogVersions({{10, 106}});
  w.Notify();
  EXPECT_TRUE(WaitFor(fired, std::chrono::seconds(10)));
  EXPECT_FALSE(other);  // another table's waiter stays parked
  w.Shutdown();         // ...until shutdown answers it
  EXPECT_TRUE(other);
}

TEST(LogWaiters, FiresAtItsDeadline) {
  storage::Catalog catalog;
  LogWaiters w(&catalog);
  std::atomic<bool> fired{false};
  const auto t0 = Clock::now();
  w.Add(10, 0, t0 + std::chrono::milliseconds(100), [&] { fired = true; });
  ASSERT_TRUE(WaitFor(fired, std::chrono::seconds(10)));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(95));
}

TEST(LogWaiters, FiresAtOnceIfTheLogAlreadyMovedOrAfterShutdown) {
  storage::Catalog catalog;
  catalog.PutLogVersions({{10, 200}});
  LogWaiters w(&catalog);
  std::atomic<bool> fired{false};
  w.Add(10, 150, Clock::now() + std::chrono::seconds(30), [&] { fired = true; });
  EXPECT_TRUE(WaitFor(fired, std::chrono::seconds(10)));
  w.Shutdown();
  bool late = false;
  w.Add(10, 500, Clock::now() + std::chrono::seconds(30), [&] { late = true; });
  EXPECT_TRUE(late);  // answered on the calling thread
}

}  // namespace
}  // namespace kvgo::server
