#include "storage/failpoint_env.h"

#include "common/failpoint.h"

#ifdef KVGO_FAILPOINTS

#include <leveldb/env.h>

#include <memory>
#include <string>

namespace kvgo::storage {

namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

class File : public leveldb::WritableFile {
 public:
  File(leveldb::WritableFile* base, bool table) : base_(base), table_(table) {}
  leveldb::Status Append(const leveldb::Slice& data) override {
    if (table_) KVGO_FAILPOINT("leveldb.table.write");
    return base_->Append(data);
  }
  leveldb::Status Close() override { return base_->Close(); }
  leveldb::Status Flush() override { return base_->Flush(); }
  leveldb::Status Sync() override {
    KVGO_FAILPOINT("disk.fsync");
    return base_->Sync();
  }

 private:
  std::unique_ptr<leveldb::WritableFile> base_;
  const bool table_;
};

class Env : public leveldb::EnvWrapper {
 public:
  Env() : EnvWrapper(leveldb::Env::Default()) {}
  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** out) override {
    leveldb::Status s = target()->NewWritableFile(name, out);
    if (s.ok()) *out = new File(*out, EndsWith(name, ".ldb"));
    return s;
  }
  leveldb::Status NewAppendableFile(const std::string& name, leveldb::WritableFile** out) override {
    leveldb::Status s = target()->NewAppendableFile(name, out);
    if (s.ok()) *out = new File(*out, EndsWith(name, ".ldb"));
    return s;
  }
};

}  // namespace

leveldb::Env* FailpointEnv() {
  static Env* env = new Env();  // never destroyed: LevelDB's threads use it
  return env;
}

}  // namespace kvgo::storage

#else

namespace kvgo::storage {
leveldb::Env* FailpointEnv() { return nullptr; }
}  // namespace kvgo::storage

#endif
