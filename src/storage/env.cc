#include "storage/env.h"

#include <leveldb/env.h>

#include <atomic>
#include <memory>
#include <string>

#include "common/failpoint.h"

namespace kvgo::storage {

namespace {

std::atomic<uint64_t> wal_syncs_on_close{0};

bool EndsWith(const std::string& s, const char* suffix) {
  const std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// Every write and sync is also reported to the power-loss bookkeeping of
// failpoint builds (common/failpoint.h): a write (Append, and the buffer
// flushes in Flush, Sync and Close) holds a failpoint::DiskWrite.
class File : public leveldb::WritableFile {
 public:
  File(const std::string& name, leveldb::WritableFile* base, bool table, bool wal)
      : name_(name), base_(base), table_(table), wal_(wal) {}
  ~File() override {
    // LevelDB deletes its current log without Close() when the DB closes.
    if (wal_ && !closed_ && Sync().ok()) wal_syncs_on_close++;
    failpoint::DiskWrite w(name_);
    base_.reset();  // closes the file, flushing what is buffered
  }
  leveldb::Status Append(const leveldb::Slice& data) override {
    if (table_) KVGO_FAILPOINT("leveldb.table.write");
    failpoint::DiskWrite w(name_);
    leveldb::Status s = base_->Append(data);
    if (s.ok()) w.Wrote(data.size());
    return s;
  }
  leveldb::Status Close() override {
    closed_ = true;
    if (wal_) {
      leveldb::Status s = Sync();
      if (!s.ok()) {
        failpoint::DiskWrite w(name_);
        base_->Close();
        return s;
      }
      wal_syncs_on_close++;
    }
    failpoint::DiskWrite w(name_);
    return base_->Close();
  }
  leveldb::Status Flush() override {
    failpoint::DiskWrite w(name_);
    return base_->Flush();
  }
  leveldb::Status Sync() override {
    {
      failpoint::DiskWrite w(name_);
      if (leveldb::Status s = base_->Flush(); !s.ok()) return s;
    }
    // After the flush: what a crash here leaves is in the file, not synced.
    KVGO_FAILPOINT("disk.fsync");
    const uint64_t length = failpoint::DiskSyncBegin(name_);
    leveldb::Status s = base_->Sync();
    if (s.ok()) failpoint::DiskSynced(name_, length);
    return s;
  }

 private:
  const std::string name_;
  std::unique_ptr<leveldb::WritableFile> base_;
  const bool table_;
  const bool wal_;
  bool closed_ = false;
};

class Env : public leveldb::EnvWrapper {
 public:
  explicit Env(leveldb::Env* base) : EnvWrapper(base) {}
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** out) override {
    leveldb::Status s = target()->NewWritableFile(name, out);
    if (s.ok()) {
      failpoint::DiskOpened(name, 0);
      *out = Wrap(name, *out);
    }
    return s;
  }
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** out) override {
    uint64_t size = 0;
    if (!target()->GetFileSize(name, &size).ok()) size = 0;
    leveldb::Status s = target()->NewAppendableFile(name, out);
    if (s.ok()) {
      failpoint::DiskOpened(name, size);
      *out = Wrap(name, *out);
    }
    return s;
  }
  leveldb::Status RemoveFile(const std::string& name) override {
    leveldb::Status s = target()->RemoveFile(name);
    if (s.ok()) failpoint::DiskRemoved(name);
    return s;
  }
  leveldb::Status RenameFile(const std::string& from, const std::string& to) override {
    leveldb::Status s = target()->RenameFile(from, to);
    if (s.ok()) failpoint::DiskRenamed(from, to);
    return s;
  }

 private:
  static leveldb::WritableFile* Wrap(const std::string& name, leveldb::WritableFile* base) {
    return new File(name, base, EndsWith(name, ".ldb"), EndsWith(name, ".log"));
  }
};

}  // namespace

uint64_t WalSyncsOnClose() { return wal_syncs_on_close.load(); }

leveldb::Env* StorageEnv() {
  static Env* env = new Env(leveldb::Env::Default());
  return env;
}

std::unique_ptr<leveldb::Env> NewStorageEnv(leveldb::Env* base) { return std::make_unique<Env>(base); }

}  // namespace kvgo::storage
