// Checks that the ThreadSanitizer build sees absl::Mutex, the lock of gRPC
// and of kvgo-server: tests/sanitize/tsan.sh runs it twice.
//   tsan_selftest guarded    two threads hand a counter over through
//                            absl::Mutex and absl::CondVar: must end clean
//                            (a report means absl is not instrumented, and
//                            every other run would drown in false reports)
//   tsan_selftest unguarded  the same counter with no lock: must be
//                            reported (else TSan is not running at all)
// Exits 0 when the run ends; a TSan report sets the exit code (TSAN_OPTIONS).
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace {

constexpr int kRounds = 1000;

// Each thread increments the counter on its turn (even: 0, odd: 1), so the
// two alternate and every access is ordered only by the mutex.
void Guarded() {
  absl::Mutex mu;
  absl::CondVar turn_changed;
  long counter = 0;  // guarded by mu
  auto player = [&](int parity) {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&mu);
      while (counter % 2 != parity) turn_changed.Wait(&mu);
      ++counter;
      turn_changed.SignalAll();
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  std::printf("guarded: counter %ld\n", counter);
}

void Unguarded() {
  volatile long counter = 0;
  auto bump = [&] {
    for (int i = 0; i < kRounds; ++i) counter = counter + 1;
  };
  std::thread a(bump), b(bump);
  a.join();
  b.join();
  std::printf("unguarded: counter %ld\n", static_cast<long>(counter));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "guarded") == 0) {
    Guarded();
  } else if (argc == 2 && std::strcmp(argv[1], "unguarded") == 0) {
    Unguarded();
  } else {
    std::fprintf(stderr, "usage: tsan_selftest guarded|unguarded\n");
    return 2;
  }
  return 0;
}
