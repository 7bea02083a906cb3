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

class File : public leveldb::WritableFile {
 public:
  File(leveldb::WritableFile* base, bool table, bool wal) : base_(base), table_(table), wal_(wal) {}
  ~File() override {
    // LevelDB deletes its current log without Close() when the DB closes.
    if (wal_ && !closed_ && base_->Sync().ok()) wal_syncs_on_close++;
  }
  leveldb::Status Append(const leveldb::Slice& data) override {
    if (table_) KVGO_FAILPOINT("leveldb.table.write");
    return base_->Append(data);
  }
  leveldb::Status Close() override {
    closed_ = true;
    if (wal_) {
      leveldb::Status s = Sync();
      if (!s.ok()) {
        base_->Close();
        return s;
      }
      wal_syncs_on_close++;
    }
    return base_->Close();
  }
  leveldb::Status Flush() override { return base_->Flush(); }
  leveldb::Status Sync() override {
    KVGO_FAILPOINT("disk.fsync");
    return base_->Sync();
  }

 private:
  std::unique_ptr<leveldb::WritableFile> base_;
  const bool table_;
  const bool wal_;
  bool closed_ = false;
};

class Env : public leveldb::EnvWrapper {
 public:
  Env() : EnvWrapper(leveldb::Env::Default()) {}
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** out) override {
    leveldb::Status s = target()->NewWritableFile(name, out);
    if (s.ok()) *out = Wrap(name, *out);
    return s;
  }
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** out) override {
    leveldb::Status s = target()->NewAppendableFile(name, out);
    if (s.ok()) *out = Wrap(name, *out);
    return s;
  }

 private:
  static leveldb::WritableFile* Wrap(const std::string& name, leveldb::WritableFile* base) {
    return new File(base, EndsWith(name, ".ldb"), EndsWith(name, ".log"));
  }
};

}  // namespace

uint64_t WalSyncsOnClose() { return wal_syncs_on_close.load(); }

leveldb::Env* StorageEnv() {
  static Env* env = new Env();
  return env;
}

}  // namespace kvgo::storage
