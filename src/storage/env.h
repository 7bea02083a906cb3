// The leveldb::Env under every Store: LevelDB's default Env, wrapped so that
//  - a write-ahead log file (NNNNNN.log) is synced before it is closed.
//    LevelDB closes the old log without a sync when it switches to a new
//    one, so without this a synced write in the new log could survive a
//    power loss while an earlier, unsynced write in the old log did not.
//    With it, LevelDB's writes reach the disk in order: a synced write
//    makes every earlier write durable too ("prefix durability"). Cluster
//    mode relies on that to apply chosen entries without an fsync of their
//    own (docs/replication.md, "What is synced").
//  - in builds with failpoints (common/failpoint.h), leveldb.table.write
//    is hit on every append to a table file and disk.fsync on every Sync.
#pragma once

#include <cstdint>
#include <memory>

namespace leveldb {
class Env;
}

namespace kvgo::storage {

// Never destroyed (LevelDB's background thread uses it until exit). Over
// leveldb::Env::Default().
leveldb::Env* StorageEnv();

// The same over `base` (tests: a simulated disk), which must outlive it.
std::unique_ptr<leveldb::Env> NewStorageEnv(leveldb::Env* base);

// How many write-ahead log files the Envs of this file synced as they were
// closed, in this process (for tests).
uint64_t WalSyncsOnClose();

}  // namespace kvgo::storage
