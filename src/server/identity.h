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

// Compares the record with `config`: writes it when absent (a new or an
// older directory) or when `reset` (--reset-identity); records a new node
// address or cluster id within cluster mode (a copy of a member's
// directory, a changed member list) with a log line; refuses a change of
// mode with FailedPrecondition saying what to do.
Status CheckIdentity(storage::Store* store, const Config& config, bool reset);

}  // namespace kvgo::server
