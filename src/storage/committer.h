// Committer: group commit. Callers on any thread hand in Commands; one
// thread takes every command queued so far, applies them in order through
// the StateMachine into one LevelDB WriteBatch, writes it with one fsync,
// publishes the effects, and only then answers every caller. Concurrent
// writers therefore share one fsync, and nothing is acknowledged before it
// is on disk.
//
// Thread-safe: Submit and Execute may be called from any number of threads.
//
// (A pipelined variant, applying the next group while the previous one is
// being fsync'd, measured the same throughput on 2 cores and added a thread
// hand-off of latency to every write; see git history.)
#pragma once

#include <absl/synchronization/mutex.h>

#include <deque>
#include <functional>
#include <future>
#include <thread>

#include "common/status.h"
#include "storage.pb.h"
#include "storage/catalog.h"
#include "storage/command_log.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kvgo::storage {

struct CommitterStats {
  uint64_t groups = 0;
  uint64_t commands = 0;
};

class Committer final : public CommandLog {
 public:
  // Called on the committer thread after each durable group, before callers
  // are answered (the Keyring hooks in here).
  using EffectsListener = std::function<void(const StateMachine::Effects&)>;

  // Called on the committer thread after each durable group with its number
  // of commands and the seconds its write and fsync took (metrics).
  using GroupObserver = std::function<void(size_t commands, double seconds)>;
  // REQUIRES: store, sm and catalog outlive the Committer.
  Committer(Store* store, StateMachine* sm, Catalog* catalog, EffectsListener listener,
            GroupObserver observer = nullptr);
  ~Committer() override;  // Stop()s

  // Applies `cmd` durably and then calls `done` exactly once, on the
  // committer thread (keep it short: it delays the next group), with the
  // result, or Unavailable if the write failed or the committer is stopped
  // (then possibly on the calling thread, before Submit returns).
  void Submit(pb::Command cmd, Callback done) override;

  // A single node's state always includes every acknowledged write.
  void ReadBarrier(Deadline, std::function<void(Status)> done) override { done(absl::OkStatus()); }
  bool RunsBackgroundWork() const override { return true; }

  // Finishes the queued commands, then stops the thread. Idempotent.
  void Stop();

  CommitterStats stats() const;

 private:
  struct Pending {
    pb::Command cmd;
    Callback done;
  };
  void Run();
  // Applies `*group` into `*batch`, one result each into `*results`. A
  // command whose read of the store fails is answered with the error and
  // taken out of the group, and the others are applied again without it
  // (it was applied in part).
  void ApplyGroup(std::vector<Pending>* group, leveldb::WriteBatch* batch, std::vector<pb::CommandResult>* results);

  Store* const store_;
  StateMachine* const sm_;
  Catalog* const catalog_;
  const EffectsListener listener_;
  const GroupObserver observer_;

  mutable absl::Mutex mu_;
  absl::CondVar work_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  CommitterStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kvgo::storage
