#include "storage/committer.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <vector>

#include "common/failpoint.h"

namespace kvgo::storage {

namespace {
// A group is cut at this many commands so that one huge burst does not
// delay the first caller unboundedly.
constexpr size_t kMaxGroupCommands = 4096;
}  // namespace

Committer::Committer(Store* store, StateMachine* sm, Catalog* catalog, EffectsListener listener, GroupObserver observer)
    : store_(store), sm_(sm), catalog_(catalog), listener_(std::move(listener)), observer_(std::move(observer)) {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-commit");
    Run();
  });
}

Committer::~Committer() { Stop(); }

void Committer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

CommitterStats Committer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Committer::Submit(pb::Command cmd, Callback done) {
  cmd.set_apply_rules(kApplyRules);  // applied at once, by this binary only
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(cmd), std::move(done)});
      done = nullptr;
    }
  }
  if (done) {
    done(absl::UnavailableError("server is shutting down"));
    return;
  }
  work_.Signal();
}

StatusOr<pb::CommandResult> CommandLog::Execute(pb::Command cmd) {
  std::promise<StatusOr<pb::CommandResult>> promise;
  auto future = promise.get_future();
  Submit(std::move(cmd), [&promise](StatusOr<pb::CommandResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Committer::ApplyGroup(std::vector<Pending>* group, leveldb::WriteBatch* batch,
                           std::vector<pb::CommandResult>* results) {
  BatchSink sink(batch);
  results->clear();
  for (size_t i = 0; i < group->size();) {
    pb::CommandResult r;
    Status s = sm_->Apply((*group)[i].cmd, &sink, &r);
    if (s.ok()) {
      results->push_back(std::move(r));
      i++;
      continue;
    }
    spdlog::error("reading the store failed while applying a write, refused: {}", std::string(s.message()));
    (*group)[i].done(absl::UnavailableError("reading the store failed: " + std::string(s.message())));
    group->erase(group->begin() + static_cast<std::ptrdiff_t>(i));
    sm_->Rollback();
    batch->Clear();
    results->clear();
    i = 0;
  }
}

void Committer::Run() {
  std::vector<Pending> group;
  std::vector<pb::CommandResult> results;
  for (;;) {
    group.clear();
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) work_.Wait(&mu_);
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && group.size() < kMaxGroupCommands) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    leveldb::WriteBatch batch;
    ApplyGroup(&group, &batch, &results);
    if (group.empty()) continue;
    KVGO_FAILPOINT("commit.persist.before");
    const auto t0 = std::chrono::steady_clock::now();
    Status s = batch.ApproximateSize() > 12 ? store_->WriteSync(&batch) : absl::OkStatus();
    if (s.ok() && observer_ && batch.ApproximateSize() > 12) {
      observer_(group.size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    if (!s.ok()) {
      sm_->Rollback();
      spdlog::error("storage write failed, {} commands refused: {}", group.size(), std::string(s.message()));
      for (Pending& p : group) {
        p.done(absl::UnavailableError("storage write failed: " + std::string(s.message())));
      }
      continue;
    }
    KVGO_FAILPOINT("commit.persist.after");
    StateMachine::Effects effects = sm_->Commit();
    for (const auto& t : effects.tables) catalog_->PutTable(t);
    catalog_->PutLogVersions(effects.log_versions);
    if (listener_) listener_(effects);
    {
      absl::MutexLock lock(&mu_);
      stats_.groups++;
      stats_.commands += group.size();
    }
    for (size_t i = 0; i < group.size(); i++) group[i].done(std::move(results[i]));
  }
}

}  // namespace kvgo::storage
