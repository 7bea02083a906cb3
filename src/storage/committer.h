// Committer: group commit, pipelined. Callers on any thread hand in
// Commands. The apply thread takes every command queued so far, applies them
// in order through the StateMachine into one LevelDB WriteBatch (a "group"),
// and hands the group to the write thread, which writes it with one fsync
// and publishes its effects; the complete thread then answers its callers.
// While one group is being fsync'd the next one is being applied and the
// previous one answered, so the disk and the CPU work at the same time. Nothing is acknowledged or visible to readers
// before it is on disk.
//
// Thread-safe: Submit and Execute may be called from any number of threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "storage.pb.h"
#include "storage/catalog.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kvgo::storage {

struct CommitterStats {
  uint64_t groups = 0;
  uint64_t commands = 0;
};

class Committer {
 public:
  // Called on the write thread after each durable group, before its callers
  // are answered (the Keyring and the LogRange waiters hook in here).
  using EffectsListener = std::function<void(const StateMachine::Effects&)>;
  using Callback = std::function<void(StatusOr<pb::CommandResult>)>;
  // Called on the write thread after each durable group with its number of
  // commands and the seconds its write and fsync took (metrics).
  using GroupObserver = std::function<void(size_t commands, double seconds)>;

  // REQUIRES: store, sm and catalog outlive the Committer.
  Committer(Store* store, StateMachine* sm, Catalog* catalog, EffectsListener listener,
            GroupObserver observer = nullptr);
  ~Committer();  // Stop()s

  // Applies `cmd` durably and then calls `done` exactly once, on the
  // complete thread (keep it short: it delays other callers), with the result, or
  // Unavailable if the write failed or the committer is stopped (then
  // possibly on the calling thread, before Submit returns).
  void Submit(pb::Command cmd, Callback done);

  // Submit, blocking until the group holding `cmd` is on disk.
  StatusOr<pb::CommandResult> Execute(pb::Command cmd);

  // Finishes the queued commands, then stops both threads. Idempotent.
  void Stop();

  CommitterStats stats() const;

 private:
  struct Pending {
    pb::Command cmd;
    Callback done;
  };
  struct Group {
    uint64_t number = 0;
    uint64_t generation = 0;
    leveldb::WriteBatch batch;
    std::vector<Pending> pending;
    std::vector<pb::CommandResult> results;
    StateMachine::Effects effects;
  };
  void ApplyLoop();
  void WriteLoop();
  void CompleteLoop();

  Store* const store_;
  StateMachine* const sm_;
  Catalog* const catalog_;
  const EffectsListener listener_;
  const GroupObserver observer_;

  mutable std::mutex mu_;
  std::condition_variable work_;        // commands queued, or stopping
  std::condition_variable written_;     // a group left the write queue
  std::condition_variable applied_;     // a group entered the write queue
  std::deque<Pending> queue_;           // GUARDED_BY(mu_)
  std::deque<std::unique_ptr<Group>> to_write_;  // GUARDED_BY(mu_)
  std::condition_variable completable_;  // a group entered to_complete_
  std::deque<std::unique_ptr<Group>> to_complete_;  // GUARDED_BY(mu_)
  bool write_done_ = false;             // GUARDED_BY(mu_)
  bool writer_idle_ = false;            // GUARDED_BY(mu_): waiting for a group
  bool stopping_ = false;               // GUARDED_BY(mu_)
  bool apply_done_ = false;             // GUARDED_BY(mu_)
  CommitterStats stats_;                // GUARDED_BY(mu_)
  // Bumped by the write thread when a write fails: groups applied on top of
  // the failed one are failed too, and the apply thread rolls back.
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> durable_group_{0};
  std::thread apply_thread_;
  std::thread write_thread_;
  std::thread complete_thread_;
};

}  // namespace kvgo::storage
