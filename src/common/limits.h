// Size limits on every path a value travels (docs/design.md, "Limits").
//
// The rule they keep: a value that can be written can always be read back,
// forwarded to the leader, replicated and sent in a snapshot. Each limit
// leaves room for the envelope of the next hop:
//
//   client request  <= kvspec::kMaxMessageBytes (12 MiB, the wire contract)
//   one writer      <= kMaxWriterBytes   (so its read reply, the stored meta
//                                          added, fits in 12 MiB)
//   one command     <= kMaxCommandBytes  (a log entry's payload; a forwarded
//                                          write)
//   one peer message <= kMaxPeerMessageBytes: Accepts, Promise parts,
//                      forwarded batches and snapshot chunks carry at most
//                      kPeerBatchBytes of payload, or one item alone.
#pragma once

#include <cstddef>

#include "common/kvspec.h"

namespace kvgo::limits {

// An ObjectWriter (a Commit, or one BatchCommit item), encoded. The stored
// meta a read adds (version, timestamps, ids: under 100 bytes) and the
// reply's own fields fit in the 64 KiB left.
inline constexpr size_t kMaxWriterBytes = kvspec::kMaxMessageBytes - (64 << 10);

// A state-machine command (storage::pb::Command), encoded: one log entry.
// A single writer always fits; a BatchCommit whose command would not is
// refused before it is proposed.
inline constexpr size_t kMaxCommandBytes = kvspec::kMaxMessageBytes + (1 << 20);

// Payload bytes per peer message when it carries several items (entries,
// forwarded commands, snapshot pairs); a larger item travels alone.
inline constexpr size_t kPeerBatchBytes = 4 << 20;

// The gRPC limit on messages between the masters: one command plus its
// envelope fits with room to spare. In cluster mode the port's receive
// limit is this, and the public service refuses requests above
// kvspec::kMaxMessageBytes itself.
inline constexpr int kMaxPeerMessageBytes = 16 << 20;

static_assert(kMaxCommandBytes + (1 << 20) <= static_cast<size_t>(kMaxPeerMessageBytes));
static_assert(kPeerBatchBytes <= kMaxCommandBytes);

}  // namespace kvgo::limits
