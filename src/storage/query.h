// QueryEngine: the read side of the kvspec Query RPC (Key, KeyRange,
// RevRange, LogRange; MetaOnly and DataOff views; limits and `next`) over
// the layout of docs/on-disk-format.md. Reads see only durable, applied
// state: the Committer makes a group visible after its fsync.
//
// Thread-safe: Query may run on any number of threads at once.
#pragma once

#include "common/clock.h"
#include "kvspec.pb.h"
#include "storage/catalog.h"
#include "storage/store.h"

namespace kvgo::storage {

class QueryEngine {
 public:
  // REQUIRES: all three outlive the engine.
  QueryEngine(Store* store, Catalog* catalog, Clock* clock)
      : store_(store), catalog_(catalog), clock_(clock) {}

  // Answers `reader` (table_name "" means main) with what is applied now;
  // it never blocks: a LogRange's wait_time is the caller's to honour
  // (server/LogWaiters parks the call until the table's log moves).
  lynkdb::kvspec::v2::ObjectResult Query(const lynkdb::kvspec::v2::ObjectReader& reader) const;

  // Approximate bytes on disk of one table's objects.
  uint64_t TableSize(uint32_t tid) const;

 private:
  void QueryKeys(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid,
                 lynkdb::kvspec::v2::ObjectResult* out) const;
  void QueryRange(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid, bool reverse,
                  lynkdb::kvspec::v2::ObjectResult* out) const;
  void QueryLog(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid,
                lynkdb::kvspec::v2::ObjectResult* out) const;

  Store* const store_;
  Catalog* const catalog_;
  Clock* const clock_;
};

}  // namespace kvgo::storage
