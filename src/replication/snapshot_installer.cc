#include "replication/snapshot_installer.h"

#include "common/failpoint.h"
#include "replication/log_store.h"

namespace kvgo::replication {

StatusOr<uint64_t> SnapshotInstaller::Begin(consensus::Slot slot, consensus::NodeId from) {
  if (active_) return absl::FailedPreconditionError("another snapshot is installing");
  leveldb::WriteBatch marker;
  PaxosLogStore::PutInstalling(&marker);
  if (Status s = store_->WriteSync(&marker); !s.ok()) return s;
  active_ = true;
  slot_ = slot;
  from_ = from;
  last_key_.clear();
  started_ = last_chunk_at_ = clock_->SteadyNow();
  return ++generation_;
}

void SnapshotInstaller::Abort() {
  active_ = false;
  generation_++;
}

StatusOr<bool> SnapshotInstaller::Chunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk) {
  if (generation != generation_ || !active_) return absl::AbortedError("this snapshot install was aborted");
  if (chunk.slot() != slot_) return absl::InvalidArgumentError("snapshot slot changed mid-stream");
  KVGO_FAILPOINT("snapshot.install");
  leveldb::WriteBatch batch;
  // Replace this node's KV keys in (last key, this chunk's last key] by the
  // chunk's; at the end, drop what lies beyond the snapshot's last key.
  std::string upto;
  for (const auto& kv : chunk.pairs()) {
    if (PaxosLogStore::IsLogKey(kv.key())) return absl::InvalidArgumentError("snapshot holds a Paxos log key");
    if (!upto.empty() && kv.key() <= upto) return absl::InvalidArgumentError("snapshot keys out of order");
    if (kv.key() <= last_key_ && !last_key_.empty()) return absl::InvalidArgumentError("snapshot keys out of order");
    upto = kv.key();
  }
  auto it = store_->NewIterator();
  if (last_key_.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(last_key_);
    if (it->Valid() && it->key().ToString() == last_key_) it->Next();
  }
  const bool to_end = chunk.last();
  for (; it->Valid(); it->Next()) {
    const std::string k = it->key().ToString();
    if (!to_end && k > upto) break;
    if (!PaxosLogStore::IsLogKey(k) && !testing_keep_stale_keys_) batch.Delete(k);
  }
  for (const auto& kv : chunk.pairs()) batch.Put(kv.key(), kv.value());
  if (!upto.empty()) last_key_ = upto;
  if (!chunk.last()) {
    // Synced: the final batch must never survive a power loss without the
    // chunks before it.
    last_chunk_at_ = clock_->SteadyNow();
    if (Status s = store_->WriteSync(&batch); !s.ok()) return s;
    return false;
  }
  PaxosLogStore::PutApplied(slot_, &batch);
  PaxosLogStore::PutCompacted(slot_, &batch);
  PaxosLogStore::ClearInstalling(&batch);
  if (Status s = store_->WriteSync(&batch); !s.ok()) return s;
  active_ = false;
  return true;
}

}  // namespace kvgo::replication
