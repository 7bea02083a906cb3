// LogWaiters: the LogRange long-poll without a blocked thread per call.
// A waiter fires once, on the LogWaiters thread, as soon as its table's log
// version passes `after`, its deadline comes, or Shutdown is called.
//
// Thread-safe: Add and Notify may be called from any thread.
#pragma once

#include <absl/synchronization/mutex.h>

#include <chrono>
#include <functional>
#include <list>
#include <thread>

#include "storage/catalog.h"

namespace kvgo::server {

class LogWaiters {
 public:
  using Fire = std::function<void()>;

  // REQUIRES: catalog outlives this object.
  explicit LogWaiters(const storage::Catalog* catalog);
  ~LogWaiters();  // Shutdown()s

  void Add(uint32_t tid, uint64_t after, std::chrono::steady_clock::time_point deadline, Fire fire);
  // The catalog's log versions changed.
  void Notify();
  // Fires every waiter now; later Adds fire at once. Idempotent.
  void Shutdown();

 private:
  struct Waiter {
    uint32_t tid;
    uint64_t after;
    std::chrono::steady_clock::time_point deadline;
    Fire fire;
  };
  void Run();

  const storage::Catalog* const catalog_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::list<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace kvgo::server
