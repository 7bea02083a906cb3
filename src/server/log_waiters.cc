#include "server/log_waiters.h"

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
    std::lock_guard lock(mu_);
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
  cv_.notify_one();
}

void LogWaiters::Notify() {
  {
    std::lock_guard lock(mu_);
    if (waiters_.empty()) return;
    changed_ = true;
  }
  cv_.notify_one();
}

void LogWaiters::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LogWaiters::Run() {
  std::vector<Fire> ready;
  std::unique_lock lock(mu_);
  for (;;) {
    auto next = std::chrono::steady_clock::time_point::max();
    for (const auto& w : waiters_) next = std::min(next, w.deadline);
    cv_.wait_until(lock, next, [&] { return stopping_ || changed_; });
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
    lock.unlock();
    for (auto& f : ready) f();
    ready.clear();
    if (done) return;
    lock.lock();
  }
}

}  // namespace kvgo::server
