// The peer token of x-kvgo-peer-auth (docs/replication.md, "Peer transport
// and authentication"): "1.<unix ms>.<hex HMAC-SHA256>" over the call's
// method, the sender's node id, the cluster id and the time, keyed with the
// cluster's peer key. Pure functions (OpenSSL only); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kvgo::replication {

std::string SignPeerToken(std::string_view key, std::string_view method, uint32_t node, uint64_t cluster_id,
                          int64_t unix_ms);

// OK, or why `token` is not one node `node` signed for `method` within
// +-10 minutes of `now_ms`: InvalidArgument (not a token), OutOfRange (its
// time), PermissionDenied (another key: constant-time compare).
Status VerifyPeerToken(std::string_view token, std::string_view key, std::string_view method, uint32_t node,
                       uint64_t cluster_id, int64_t now_ms);

}  // namespace kvgo::replication
