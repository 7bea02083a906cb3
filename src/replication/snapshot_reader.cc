#include "replication/snapshot_reader.h"

#include "common/limits.h"
#include "replication/log_store.h"

namespace kvgo::replication {

static_assert(kSnapshotChunkBytes <= limits::kPeerBatchBytes);

SnapshotReader::SnapshotReader(const storage::Store* store, size_t chunk_bytes)
    : chunk_bytes_(chunk_bytes), snapshot_(store->TakeSnapshot()), it_(store->NewIterator(snapshot_.get())) {
  it_->SeekToFirst();
}

bool SnapshotReader::Next(peer::pb::SnapshotChunk* chunk) {
  chunk->Clear();
  size_t chunk_bytes = 0;
  for (; it_->Valid(); it_->Next()) {
    const leveldb::Slice k = it_->key();
    if (PaxosLogStore::IsLogKey(std::string_view(k.data(), k.size()))) continue;
    if (chunk_bytes > 0 && chunk_bytes + k.size() + it_->value().size() > chunk_bytes_) break;
    auto* kv = chunk->add_pairs();
    kv->set_key(k.data(), k.size());
    kv->set_value(it_->value().data(), it_->value().size());
    chunk_bytes += k.size() + it_->value().size();
    keys_++;
  }
  bytes_ += chunk_bytes;
  return chunk->pairs_size() > 0;
}

Status SnapshotReader::status() const {
  const leveldb::Status s = it_->status();
  return s.ok() ? absl::OkStatus() : absl::DataLossError("reading the snapshot: " + s.ToString());
}

}  // namespace kvgo::replication
