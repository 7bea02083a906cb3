// The storage failpoints (common/failpoint.h): leveldb.table.write and
// disk.fsync run inside LevelDB's file writes, through a leveldb::Env.
#pragma once

namespace leveldb {
class Env;
}

namespace kvgo::storage {

// A leveldb::Env (the default one, wrapped) that hits leveldb.table.write
// on every append to a table file and disk.fsync on every Sync; nullptr
// in builds without failpoints (then LevelDB's default Env is used).
leveldb::Env* FailpointEnv();

}  // namespace kvgo::storage
