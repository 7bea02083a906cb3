// Store: the LevelDB database of one kvgo-server node. Owns the DB handle,
// its block cache and bloom filter. Thread-safe (LevelDB is): any thread may
// read or write. kvgo writes from one thread at a time: the Committer's on a
// single node; in a cluster the Replicator's driver (applied entries, log
// truncation, snapshot installs, under its apply lock) and PaxosLogStore,
// called by that driver; and at startup, before either runs, the identity
// record and the initial records of a new store.
#pragma once

#include <absl/synchronization/mutex.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace kvgo::storage {

struct StoreOptions {
  std::string data_directory;
  size_t write_buffer_size = 8 << 20;
  size_t block_cache_size = 32 << 20;
  size_t max_file_size = 8 << 20;
  int max_open_files = 500;
  bool snappy = true;
  // Every file of the store (and of the Paxos WAL beside it) goes through
  // this Env; null: StorageEnv() (storage/env.h). Must outlive the Store.
  leveldb::Env* env = nullptr;
};

class Store {
 public:
  // Opens (creating if missing) the database in options.data_directory,
  // creating the directory too (created() says so). Returns an error naming
  // the directory or the corrupt file; never repairs silently.
  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Point read. NotFound if absent; other errors are storage errors.
  Status Get(const std::string& key, std::string* value, const leveldb::Snapshot* snapshot = nullptr) const;
  // An iterator over a consistent view (snapshot may be null = now).
  std::unique_ptr<leveldb::Iterator> NewIterator(const leveldb::Snapshot* snapshot = nullptr) const;
  // The store as of now, for reads that must all see one point; released
  // when the last copy goes, which must be before the Store.
  std::shared_ptr<const leveldb::Snapshot> TakeSnapshot() const;
  // Writes `batch` and fsyncs the write-ahead log before returning.
  Status WriteSync(leveldb::WriteBatch* batch);
  // Writes `batch` without an fsync: a power loss may lose it, but only
  // together with every later write (the next synced write makes it
  // durable; storage/env.h).
  Status Write(leveldb::WriteBatch* batch);

  // Compacts the whole key range (deleted data frees its space). Slow:
  // blocks the caller until LevelDB is done.
  void CompactAll();
  // Approximate bytes on disk of [start, limit).
  uint64_t ApproximateSize(const std::string& start, const std::string& limit) const;
  // A LevelDB property ("leveldb.stats", ...), or "" if unknown.
  std::string Property(const std::string& name) const;

  // Bytes of the files in the data directory and below (LevelDB's tables,
  // logs and manifest; in cluster mode the Paxos WAL in paxos/): what
  // [storage] quota_bytes limits.
  uint64_t DiskUsage() const;
  // Bytes available to this process on the data directory's filesystem
  // (statvfs), or UINT64_MAX if that cannot be told.
  uint64_t FreeBytes() const;

  // After a read hit LevelDB "Corruption: ...": which table file holds it (each
  // table read whole, checksums verified) and what the operator can do, as
  // "; the damaged file is ...". Reads every table: for the error path.
  std::string DescribeDamage() const;

  // Bytes held by the block cache.
  size_t BlockCacheUsage() const { return cache_->TotalCharge(); }

  leveldb::DB* db() const { return db_.get(); }
  leveldb::Env* env() const { return env_; }
  const std::string& directory() const { return directory_; }
  // Whether Open made a new database (there was none in the directory).
  bool created() const { return created_; }

  // OK while the data directory is the one opened (same inode, its CURRENT
  // file present); once it was deleted or replaced, an error for good
  // (LevelDB then writes into files no path leads to). Looks at most every
  // 100 ms; thread-safe.
  Status CheckDirectory() const;

 private:
  Store() = default;
  std::string directory_;
  leveldb::Env* env_ = nullptr;
  bool created_ = false;
  dev_t dir_dev_ = 0;
  ino_t dir_ino_ = 0;
  mutable absl::Mutex check_mu_;
  mutable std::chrono::steady_clock::time_point checked_at_ ABSL_GUARDED_BY(check_mu_){};
  mutable Status directory_status_ ABSL_GUARDED_BY(check_mu_);
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;  // destroyed first (declared last)
};

}  // namespace kvgo::storage
