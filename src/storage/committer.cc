#include "storage/committer.h"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <future>

namespace kvgo::storage {

namespace {
// A group is cut at this many commands so that one huge burst does not
// delay the first caller unboundedly.
constexpr size_t kMaxGroupCommands = 4096;
// Groups applied but not yet written; bounds memory and how far apply runs
// ahead of the disk.
constexpr size_t kMaxGroupsInFlight = 2;
}  // namespace

Committer::Committer(Store* store, StateMachine* sm, Catalog* catalog, EffectsListener listener,
                     GroupObserver observer)
    : store_(store),
      sm_(sm),
      catalog_(catalog),
      listener_(std::move(listener)),
      observer_(std::move(observer)) {
  apply_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-apply");
    ApplyLoop();
  });
  write_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-write");
    WriteLoop();
  });
  complete_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-complete");
    CompleteLoop();
  });
}

Committer::~Committer() { Stop(); }

void Committer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  if (apply_thread_.joinable()) apply_thread_.join();
  if (write_thread_.joinable()) write_thread_.join();
  if (complete_thread_.joinable()) complete_thread_.join();
}

CommitterStats Committer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Committer::Submit(pb::Command cmd, Callback done) {
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      was_empty = queue_.empty();
      queue_.push_back(Pending{std::move(cmd), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(absl::UnavailableError("server is shutting down"));
    return;
  }
  // The apply thread only sleeps on an empty queue.
  if (was_empty) work_.notify_one();
}

StatusOr<pb::CommandResult> Committer::Execute(pb::Command cmd) {
  std::promise<StatusOr<pb::CommandResult>> promise;
  auto future = promise.get_future();
  Submit(std::move(cmd), [&promise](StatusOr<pb::CommandResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

// Applies commands into an open group as they arrive, and hands the group
// to the write thread as soon as that thread is idle (or the group is full).
// So a group holds every command that arrived during the previous fsync:
// the slower the disk, the larger the groups.
void Committer::ApplyLoop() {
  uint64_t generation = generation_.load();
  std::unique_ptr<Group> g;
  std::vector<Pending> batch;
  for (;;) {
    batch.clear();
    bool seal = false;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] {
        return stopping_ || !queue_.empty() || (g != nullptr && writer_idle_);
      });
      if (!queue_.empty() && (g == nullptr || g->pending.size() < kMaxGroupCommands)) {
        const size_t room = kMaxGroupCommands - (g ? g->pending.size() : 0);
        while (!queue_.empty() && batch.size() < room) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      } else if (g != nullptr) {
        seal = true;  // the writer is idle, the group is full, or stopping
        writer_idle_ = false;  // it will be busy with this group
      } else if (stopping_ && queue_.empty()) {
        apply_done_ = true;
        applied_.notify_all();
        return;
      }
    }
    if (!batch.empty()) {
      if (g == nullptr) {
        if (uint64_t now = generation_.load(); now != generation) {
          sm_->Rollback();  // the overlay holds writes of failed groups
          generation = now;
        }
        sm_->ForgetDurable(durable_group_.load());
        g = std::make_unique<Group>();
        g->generation = generation;
      }
      for (Pending& p : batch) {
        g->results.push_back(sm_->Apply(p.cmd, &g->batch));
        g->pending.push_back(std::move(p));
      }
      continue;
    }
    if (seal) {
      g->effects = sm_->SealGroup(&g->number);
      {
        std::unique_lock lock(mu_);
        written_.wait(lock, [&] { return to_write_.size() < kMaxGroupsInFlight; });
        to_write_.push_back(std::move(g));
      }
      applied_.notify_one();
    }
  }
}

void Committer::WriteLoop() {
  for (;;) {
    std::unique_ptr<Group> g;
    {
      std::unique_lock lock(mu_);
      if (to_write_.empty()) {
        writer_idle_ = true;
        work_.notify_one();  // the apply thread may hand over its open group now
      }
      applied_.wait(lock, [&] { return apply_done_ || !to_write_.empty(); });
      writer_idle_ = false;
      if (to_write_.empty()) {  // apply finished and nothing left
        write_done_ = true;
        completable_.notify_all();
        return;
      }
      g = std::move(to_write_.front());
      to_write_.pop_front();
    }
    written_.notify_one();

    Status s;
    if (g->generation != generation_.load()) {
      s = absl::UnavailableError("an earlier write failed");
    } else if (g->batch.ApproximateSize() > 12) {  // 12 bytes = empty batch
      const auto t0 = std::chrono::steady_clock::now();
      s = store_->WriteSync(&g->batch);
      if (!s.ok()) generation_.fetch_add(1);
      if (s.ok() && observer_) {
        observer_(g->pending.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    if (!s.ok()) {
      spdlog::error("storage write failed, {} commands refused: {}", g->pending.size(),
                    std::string(s.message()));
      for (Pending& p : g->pending) {
        p.done(absl::UnavailableError("storage write failed: " + std::string(s.message())));
      }
      continue;
    }
    durable_group_.store(g->number);
    for (const auto& t : g->effects.tables) catalog_->PutTable(t);
    catalog_->PutLogVersions(g->effects.log_versions);
    if (listener_) listener_(g->effects);
    {
      std::lock_guard lock(mu_);
      stats_.groups++;
      stats_.commands += g->pending.size();
      to_complete_.push_back(std::move(g));
    }
    completable_.notify_one();
  }
}

void Committer::CompleteLoop() {
  for (;;) {
    std::unique_ptr<Group> g;
    {
      std::unique_lock lock(mu_);
      completable_.wait(lock, [&] { return write_done_ || !to_complete_.empty(); });
      if (to_complete_.empty()) return;
      g = std::move(to_complete_.front());
      to_complete_.pop_front();
    }
    for (size_t i = 0; i < g->pending.size(); i++) g->pending[i].done(std::move(g->results[i]));
  }
}

}  // namespace kvgo::storage
