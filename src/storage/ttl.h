// TTL purging: finds expired objects through the TTL index so that a purge
// command (applied like any write) can remove them from disk. Reads hide
// expired objects at once; this only reclaims space.
//
// Thread-safe (reads a LevelDB snapshot).
#pragma once

#include <cstdint>
#include <vector>

#include "storage.pb.h"
#include "storage/store.h"

namespace kvgo::storage {

// Up to `max_targets` TTL entries of `tables` whose expiry is before
// `now_ms`, in table then expiry order.
pb::PurgeCommand CollectExpired(const Store& store, const std::vector<pb::TableInfo>& tables, int64_t now_ms,
                                size_t max_targets);

}  // namespace kvgo::storage
