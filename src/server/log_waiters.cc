#include "server/log_waiters.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>

#include <vector>

namespace kvgo::server {

LogWaiters::LogWaiters(const storage::Catalog* catalog) : catalog_(catalog) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-logwait");
    Run();
  });
}

LogWaiters::~LogWaiters() { Shutdown(); }

void LogWaiters::Add(uint32_t tid, uint64_t after, std::chrono::steady_clock::time_point deadline, Fire fire) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      waiters_.push_back(Waiter{tid, after, deadline, std::move(fire)});
      changed_ = true;  // re-check at once: a write may have landed already
      fire = nullptr;
    }
  }
  if (fire) {
    fire();
    return;
  }
  cv_.Signal();
}

void LogWaiters::Notify() {
  {
    absl::MutexLock lock(&mu_);
    if (waiters_.empty()) return;
    changed_ = true;
  }
  cv_.Signal();
}

void LogWaiters::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.Signal();
  if (thread_.joinable()) thread_.join();
}

void LogWaiters::Run() {
  std::vector<Fire> ready;
  mu_.Lock();
  for (;;) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& w : waiters_) next = std::min(next, w.deadline);
    if (next == std::chrono::steady_clock::time_point::max()) {
      while (!stopping_ && !changed_) cv_.Wait(&mu_);
    } else {
      const absl::Time until = absl::Now() + absl::FromChrono(next - std::chrono::steady_clock::now());
      while (!stopping_ && !changed_ && !cv_.WaitWithDeadline(&mu_, until)) {
      }
    }
    changed_ = false;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (stopping_ || now >= it->deadline || catalog_->LogVersion(it->tid) > it->after) {
        ready.push_back(std::move(it->fire));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    const bool done = stopping_;
    mu_.Unlock();
    for (auto& f : ready) f();
    ready.clear();
    if (done) return;
    mu_.Lock();
  }
}

}  // namespace kvgo::server
