// Clocks. The request path (KvService's "now" of a command, token
// checks, the query engine's TTL view) and the replication core (ticks,
// leases, batching and parking deadlines) read time through a Clock, so that
// tests and the simulator drive it. What measures real time for the
// operating system or gRPC reads std::chrono::steady_clock directly, and
// its tests run in real time: gRPC call deadlines and LogRange waits
// (KvService, LogWaiters), transport timeouts and snapshot throttling, the
// Committer's batching, the listener, the call tracker.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace kvgo {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in unix milliseconds. May jump (NTP); never use it to
  // measure durations.
  virtual int64_t NowMs() = 0;
  // Monotonic milliseconds since an arbitrary origin; never goes backwards.
  virtual int64_t MonotonicMs() = 0;
  // The monotonic time as a steady_clock time point (deadlines, timers).
  virtual std::chrono::steady_clock::time_point SteadyNow() = 0;
};

// The process-wide real clock. Never null; never deleted.
Clock* SystemClock();

// A clock for tests: both readings are set by hand. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms), mono_ms_(0) {}
  int64_t NowMs() override { return now_ms_; }
  int64_t MonotonicMs() override { return mono_ms_; }
  std::chrono::steady_clock::time_point SteadyNow() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(mono_ms_));
  }
  void Advance(int64_t ms) {
    now_ms_ += ms;
    mono_ms_ += ms;
  }
  void SetNowMs(int64_t now_ms) { now_ms_ = now_ms; }

 private:
  // Plain int64 writes/reads from the test thread only.
  int64_t now_ms_;
  int64_t mono_ms_;
};

}  // namespace kvgo
