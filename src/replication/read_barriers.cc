#include "replication/read_barriers.h"

#include <absl/synchronization/mutex.h>

namespace kvgo::replication {

void ReadBarriers::Read(Deadline deadline, Done done) {
  if (hooks_.under_lease()) return done(absl::OkStatus());
  if (hooks_.leader_ready()) {
    hooks_.post(LeaderRead{[this, deadline, done](Status s, consensus::Slot index) {
      if (!s.ok()) return done(s);
      WaitApplied(index, deadline, done);
    }});
    return;
  }
  if (hooks_.leader() == 0) {
    return done(absl::UnavailableError("no leader: the cluster is electing one or has no majority"));
  }
  FollowerRead(deadline, std::move(done));
}

void ReadBarriers::LeaderIndex(std::function<void(Status, consensus::Slot)> done) {
  // Under the lease every acknowledged write is applied here already.
  if (hooks_.under_lease()) return done(absl::OkStatus(), applied_.load());
  hooks_.post(LeaderRead{std::move(done)});
}

void ReadBarriers::WaitApplied(consensus::Slot index, Deadline deadline, Done done) {
  if (applied_.load() >= index) return done(absl::OkStatus());
  {
    absl::MutexLock lock(&mu_);
    if (applied_.load() < index && !stopping_) {
      waiters_.emplace(index, std::make_pair(deadline, std::move(done)));
      return;
    }
  }
  done(applied_.load() >= index ? absl::OkStatus() : absl::UnavailableError("server is shutting down"));
}

void ReadBarriers::FollowerRead(Deadline deadline, Done done) {
  bool queued = false, send = false;
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      next_reads_.emplace_back(deadline, std::move(done));
      queued = true;
      if (!in_flight_) send = in_flight_ = true;
    }
  }
  if (!queued) return done(absl::UnavailableError("server is shutting down"));
  if (send) SendReadIndex();
}

void ReadBarriers::SendReadIndex() {
  std::vector<std::pair<Deadline, Done>> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(next_reads_);
  }
  auto finish = [this, batch = std::move(batch)](Status s, consensus::Slot index) mutable {
    for (auto& [deadline, done] : batch) {
      if (s.ok()) {
        WaitApplied(index, deadline, std::move(done));
      } else {
        done(s);
      }
    }
    bool again = false;
    {
      absl::MutexLock lock(&mu_);
      again = !next_reads_.empty() && !stopping_;
      if (!again) in_flight_ = false;
    }
    if (again) {
      SendReadIndex();
    } else {
      idle_cv_.SignalAll();  // Stop() may wait for this
    }
  };
  const consensus::NodeId leader = hooks_.leader();
  if (leader == 0) {
    return finish(absl::UnavailableError("no leader: the cluster is electing one or has no majority"), 0);
  }
  transport_->ReadIndex(leader, std::move(finish));
}

void ReadBarriers::SetApplied(consensus::Slot applied) {
  applied_ = applied;
  std::vector<Done> ready;
  {
    absl::MutexLock lock(&mu_);
    while (!waiters_.empty() && waiters_.begin()->first <= applied) {
      ready.push_back(std::move(waiters_.begin()->second.second));
      waiters_.erase(waiters_.begin());
    }
  }
  if (ready.empty()) return;
  hooks_.defer([ready = std::move(ready)]() mutable {
    for (auto& d : ready) d(absl::OkStatus());
  });
}

void ReadBarriers::Expire(Deadline now) {
  std::vector<Done> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.first <= now) {
        expired.push_back(std::move(it->second.second));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (expired.empty()) return;
  hooks_.defer([expired = std::move(expired)]() mutable {
    for (auto& d : expired) {
      d(absl::DeadlineExceededError("timed out waiting for this node to apply the cluster's latest writes"));
    }
  });
}

void ReadBarriers::Stop() {
  const Status down = absl::UnavailableError("server is shutting down");
  std::multimap<consensus::Slot, std::pair<Deadline, Done>> waiters;
  std::vector<std::pair<Deadline, Done>> next_reads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    waiters.swap(waiters_);
    next_reads.swap(next_reads_);
  }
  for (auto& [slot, w] : waiters) w.second(down);
  for (auto& [deadline, done] : next_reads) done(down);
  // A ReadIndex call in flight calls back into this object: wait for it
  // (its time limit bounds the wait).
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + absl::FromChrono(kReadIndexTimeout + std::chrono::seconds(1));
  while (in_flight_ && !idle_cv_.WaitWithDeadline(&mu_, until)) {
  }
}

}  // namespace kvgo::replication
