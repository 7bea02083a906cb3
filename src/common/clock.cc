#include "common/clock.h"

#include <chrono>

#include "common/failpoint.h"

namespace kvgo {
namespace {

class RealClock : public Clock {
 public:
  int64_t NowMs() override {
    // Test builds: a wall-clock jump (the nemesis's clock fault).
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count() +
           KVGO_FAILPOINT_VALUE("clock.wall_offset_ms");
  }
  int64_t MonotonicMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point SteadyNow() override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock* SystemClock() {
  static RealClock* clock = new RealClock();  // never destroyed: safe at exit
  return clock;
}

}  // namespace kvgo
