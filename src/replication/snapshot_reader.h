// SnapshotReader: a snapshot of a node's KV store (every key outside the
// Paxos space) as the chunks of the Peer service's InstallSnapshot, each
// at most kSnapshotChunkBytes of pairs (or one larger pair alone: a stored
// object is at most limits::kMaxCommandBytes, so a chunk fits a peer
// message). GrpcSnapshotSender streams them over gRPC; the replica
// simulator over its simulated network.
//
// Not thread-safe: one thread reads a reader (it may be another than the
// one that made it). Must not outlive its Store.
#pragma once

#include <cstdint>
#include <memory>

#include "leveldb/iterator.h"
#include "peer.pb.h"
#include "storage/store.h"

namespace kvgo::replication {

inline constexpr size_t kSnapshotChunkBytes = 1 << 20;

class SnapshotReader {
 public:
  // Takes the snapshot: the store as of this call. Chunks hold up to
  // `chunk_bytes` (a test takes small ones, for many-chunk streams).
  explicit SnapshotReader(const storage::Store* store, size_t chunk_bytes = kSnapshotChunkBytes);

  // Sets `chunk`'s pairs to the next ones (clearing the rest of it).
  // Returns false once every pair was read, or when reading failed
  // (status() says which).
  bool Next(peer::pb::SnapshotChunk* chunk);
  Status status() const;
  uint64_t keys() const { return keys_; }
  uint64_t bytes() const { return bytes_; }

 private:
  const size_t chunk_bytes_;
  std::shared_ptr<const leveldb::Snapshot> snapshot_;
  std::unique_ptr<leveldb::Iterator> it_;
  uint64_t keys_ = 0, bytes_ = 0;
};

}  // namespace kvgo::replication
