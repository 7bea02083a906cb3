// QueryEngine: the read side of the kvspec Query RPC (Key, KeyRange,
// RevRange, LogRange; MetaOnly and DataOff views; limits and `next`) over
// the layout of docs/on-disk-format.md. Reads see only applied state whose
// log is durable: the Committer makes a group visible after its fsync, and
// the Replicator applies only chosen entries already in its WAL.
//
// Thread-safe: Query may run on any number of threads at once.
#pragma once

#include "common/clock.h"
#include "kvspec.pb.h"
#include "storage/catalog.h"
#include "storage/store.h"

namespace kvgo::storage {

// The bytes a reply may still grow by. Query takes each item's encoded
// size before it adds the item (the budget counts the item's framing in the
// reply too), and on a refusal answers with no items: status 4 when Take
// returns InvalidArgument (this reply alone would be too large), 5
// otherwise (the server is short of memory for replies).
class ReplyBudget {
 public:
  virtual ~ReplyBudget() = default;
  virtual Status Take(size_t item_bytes) = 0;
};

class QueryEngine {
 public:
  // REQUIRES: all three outlive the engine.
  QueryEngine(Store* store, Catalog* catalog, Clock* clock) : store_(store), catalog_(catalog), clock_(clock) {}

  // Answers `reader` (table_name "" means main) with what is applied now;
  // it never blocks: a LogRange's wait_time is the caller's to honour
  // (server/LogWaiters parks the call until the table's log moves).
  // `budget` (may be null: no limit) bounds the reply's size.
  lynkdb::kvspec::v2::ObjectResult Query(const lynkdb::kvspec::v2::ObjectReader& reader,
                                         ReplyBudget* budget = nullptr) const;

  // Approximate bytes on disk of one table's objects.
  uint64_t TableSize(uint32_t tid) const;

 private:
  // Each returns false if the budget refused an item (out then holds the
  // refusal).
  bool QueryKeys(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid, ReplyBudget* budget,
                 lynkdb::kvspec::v2::ObjectResult* out) const;
  bool QueryRange(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid, bool reverse, ReplyBudget* budget,
                  lynkdb::kvspec::v2::ObjectResult* out) const;
  bool QueryLog(const lynkdb::kvspec::v2::ObjectReader& r, uint32_t tid, ReplyBudget* budget,
                lynkdb::kvspec::v2::ObjectResult* out) const;

  Store* const store_;
  Catalog* const catalog_;
  Clock* const clock_;
};

}  // namespace kvgo::storage
