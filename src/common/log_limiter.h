// LogLimiter: lets a message through at most once per period for each key
// (a code location, a reason: a small fixed set), and counts what it held
// back, so that no input can flood the log. Thread-safe.
#pragma once

#include <absl/synchronization/mutex.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace kvgo {

class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::steady_clock::duration period = std::chrono::minutes(1)) : period_(period) {}

  // True if a message for `key` may be logged now; then *suppressed holds
  // how many for it were held back since the last one.
  bool Allow(const std::string& key, uint64_t* suppressed) {
    absl::MutexLock lock(&mu_);
    const auto now = std::chrono::steady_clock::now();
    Entry& e = entries_[key];
    if (e.last != std::chrono::steady_clock::time_point{} && now - e.last < period_) {
      e.held++;
      return false;
    }
    e.last = now;
    *suppressed = e.held;
    e.held = 0;
    return true;
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last{};
    uint64_t held = 0;
  };
  const std::chrono::steady_clock::duration period_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvgo
