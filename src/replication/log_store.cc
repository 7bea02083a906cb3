#include "replication/log_store.h"

#include <spdlog/spdlog.h>

#include "replication/codec.h"
#include "storage/keys.h"

namespace kvgo::replication {

namespace {

std::string Key(char sub) { return std::string{kPaxosSpace, sub}; }

std::string U64(uint64_t v) {
  std::string s;
  storage::keys::PutBig64(&s, v);
  return s;
}

StatusOr<uint64_t> GetU64(storage::Store* store, const std::string& key) {
  std::string v;
  Status s = store->Get(key, &v);
  if (absl::IsNotFound(s)) return 0;
  if (!s.ok()) return s;
  if (v.size() != 8) return absl::DataLossError("bad Paxos log record length");
  return storage::keys::GetBig64(v);
}

}  // namespace

std::string PaxosLogStore::EntryKey(consensus::Slot slot) { return Key(0x02) + U64(slot); }
std::string PaxosLogStore::AppliedKey() { return Key(0x04); }

void PaxosLogStore::PutHardState(const consensus::HardState& hs, leveldb::WriteBatch* b) {
  peer::pb::HardState p;
  p.mutable_promised()->set_round(hs.promised.round);
  p.mutable_promised()->set_node(hs.promised.node);
  b->Put(Key(0x01), p.SerializeAsString());
}

void PaxosLogStore::PutEntry(const consensus::Entry& e, leveldb::WriteBatch* b) {
  peer::pb::Entry p;
  ToProto(e, &p);
  b->Put(EntryKey(e.slot), p.SerializeAsString());
}

void PaxosLogStore::PutApplied(consensus::Slot slot, leveldb::WriteBatch* b) {
  b->Put(AppliedKey(), U64(slot));
}

void PaxosLogStore::PutCompacted(consensus::Slot slot, leveldb::WriteBatch* b) {
  b->Put(Key(0x03), U64(slot));
}

void PaxosLogStore::PutInstalling(leveldb::WriteBatch* b) { b->Put(Key(0x05), ""); }
void PaxosLogStore::ClearInstalling(leveldb::WriteBatch* b) { b->Delete(Key(0x05)); }

void PaxosLogStore::DeleteEntries(consensus::Slot from, consensus::Slot upto,
                                  leveldb::WriteBatch* b) const {
  auto it = store_->NewIterator();
  const std::string end = EntryKey(upto) + std::string(1, '\0');
  for (it->Seek(EntryKey(from + 1)); it->Valid() && it->key().ToString() < end; it->Next()) {
    b->Delete(it->key());
  }
}

Status PaxosLogStore::WipeData() {
  leveldb::WriteBatch b;
  auto it = store_->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!IsLogKey(it->key().ToString())) b.Delete(it->key());
  }
  if (!it->status().ok()) return absl::DataLossError(it->status().ToString());
  // The entries go too: they may be older than the interrupted snapshot.
  const std::string entries = Key(0x02);
  for (it->Seek(entries); it->Valid() && it->key().starts_with(entries); it->Next()) b.Delete(it->key());
  b.Delete(Key(0x03));
  b.Delete(Key(0x04));
  ClearInstalling(&b);
  return store_->WriteSync(&b);
}

StatusOr<consensus::Restored> PaxosLogStore::Load() {
  std::string v;
  Status s = store_->Get(Key(0x05), &v);
  if (s.ok()) {
    spdlog::warn("a snapshot install was interrupted: wiping this node's data (its Paxos promise is kept); "
                 "the leader will send a new snapshot");
    if (Status w = WipeData(); !w.ok()) return w;
  } else if (!absl::IsNotFound(s)) {
    return s;
  }

  consensus::Restored r;
  s = store_->Get(Key(0x01), &v);
  if (s.ok()) {
    peer::pb::HardState hs;
    if (!hs.ParseFromString(v)) return absl::DataLossError("corrupt Paxos hard state");
    r.hard_state.promised = {hs.promised().round(), hs.promised().node()};
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  auto applied = GetU64(store_, AppliedKey());
  if (!applied.ok()) return applied.status();
  auto compacted = GetU64(store_, Key(0x03));
  if (!compacted.ok()) return compacted.status();
  r.applied = *applied;
  r.compacted = std::min(*compacted, r.applied);

  const std::string prefix = Key(0x02);
  auto it = store_->NewIterator();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    peer::pb::Entry e;
    if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt Paxos log entry");
    }
    if (e.slot() <= r.compacted) continue;
    r.entries[e.slot()] = FromProto(e);
  }
  if (!it->status().ok()) return absl::DataLossError(it->status().ToString());
  return r;
}

}  // namespace kvgo::replication
