// MutationSink: where StateMachine::Apply puts the mutations it computes.
// BatchSink collects them for one store write; RecordSink records them,
// with the versions handed out, in a Precomputed entry that every replica
// then writes instead of computing (a cluster leader's speculation).
//
// Not thread-safe; a sink is used by the thread that drives its state
// machine. A sink does not own what it writes into.
#pragma once

#include <cstdint>
#include <string>

#include "leveldb/write_batch.h"
#include "storage.pb.h"

namespace kvgo::storage {

class MutationSink {
 public:
  virtual ~MutationSink() = default;
  virtual void Put(const std::string& key, const std::string& value) = 0;
  virtual void Delete(const std::string& key) = 0;
  // Table `tid`'s log version counter is now `version`.
  virtual void Version(uint32_t tid, uint64_t version) { (void)tid, (void)version; }
};

// Appends to a WriteBatch.
class BatchSink final : public MutationSink {
 public:
  explicit BatchSink(leveldb::WriteBatch* batch) : batch_(batch) {}
  void Put(const std::string& key, const std::string& value) override { batch_->Put(key, value); }
  void Delete(const std::string& key) override { batch_->Delete(key); }

 private:
  leveldb::WriteBatch* batch_;
};

// Appends to a Precomputed record: its mutations in order, and the last
// version of each table.
class RecordSink final : public MutationSink {
 public:
  explicit RecordSink(pb::Precomputed* out) : out_(out) {}
  void Put(const std::string& key, const std::string& value) override {
    pb::Mutation* m = out_->add_mutations();
    m->set_key(key);
    m->set_value(value);
  }
  void Delete(const std::string& key) override {
    pb::Mutation* m = out_->add_mutations();
    m->set_key(key);
    m->set_del(true);
  }
  void Version(uint32_t tid, uint64_t version) override { (*out_->mutable_log_versions())[tid] = version; }

 private:
  pb::Precomputed* out_;
};

}  // namespace kvgo::storage
