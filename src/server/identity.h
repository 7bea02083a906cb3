// The data directory's record of who uses it (storage.pb.NodeIdentity, key
// p 0x06, never in snapshots): a single node, or the master at ADDR of the
// cluster ID. It catches a data directory started in the other mode, whose
// writes would then exist on one node only (or be mixed with a cluster's).
//
// Thread-compatible: called once, at startup, before anything serves.
#pragma once

#include "common/status.h"
#include "config/config.h"
#include "storage/store.h"

namespace kvgo::server {

// Compares the record with `config`: writes it when absent (a new
// directory) or when `reset` (--reset-identity). Refuses, with
// FailedPrecondition saying what to do, a change of mode, and a master's
// data under a member list that keeps no majority of the masters it was
// recorded with (another cluster's data). Records with a log line what the
// documented procedures change: another node address (a copy of a
// member's directory), a member list that keeps a majority (members
// replaced one at a time).
Status CheckIdentity(storage::Store* store, const Config& config, bool reset);

}  // namespace kvgo::server
