// PowerLossEnv (test-only): a leveldb::Env over another whose disk can lose
// power, one directory at a time, as a machine does.
//
//   PowerOff(dir)  from now on nothing under `dir` reaches the disk: writes,
//                  syncs, creations, renames and deletions there succeed
//                  and do nothing. The caller then closes whatever has the
//                  files open (a process dying with its machine).
//   PowerOn(dir)   cuts every file under `dir` back to its length at its
//                  last completed sync, then lets writes through again.
//
// The model is the worst a disk that keeps each file's writes in order may
// do: a file loses an unsynced suffix, never data a sync covered. Creating,
// renaming and deleting files count as durable at once (an assumption: the
// Paxos WAL syncs its directory after each, LevelDB only with its
// MANIFEST); a file that existed when first opened counts as synced up to
// its length then. Files are cut with truncate(2): the base Env must be
// POSIX's. A
// crash without PowerOff loses nothing (the page cache survives it), but
// what it left unsynced is still lost at a later power cut.
//
// Thread-safe: LevelDB's background thread writes through it too.
#pragma once

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <leveldb/env.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace kvgo::storage {

class PowerLossEnv final : public leveldb::EnvWrapper {
 public:
  // `base` must outlive this Env.
  explicit PowerLossEnv(leveldb::Env* base) : EnvWrapper(base) {}

  void PowerOff(const std::string& dir);
  // Returns how many bytes the cut dropped. REQUIRES: nothing under `dir`
  // is open for writing.
  uint64_t PowerOn(const std::string& dir);

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** out) override;
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** out) override;
  leveldb::Status RemoveFile(const std::string& name) override;
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override;

 private:
  class File;
  struct Ledger {
    uint64_t length = 0;  // bytes written
    uint64_t synced = 0;  // bytes a completed sync covered
  };
  bool Off(const std::string& path) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Ledger> files_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> off_ ABSL_GUARDED_BY(mu_);  // directories without power
};

}  // namespace kvgo::storage
