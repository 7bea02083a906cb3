#include "replication/log_store.h"

#include <spdlog/spdlog.h>

#include <filesystem>

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

Wal::Record HardStateRecord(const consensus::HardState& hs) {
  peer::pb::HardState p;
  p.mutable_promised()->set_round(hs.promised.round);
  p.mutable_promised()->set_node(hs.promised.node);
  return {PaxosLogStore::kHardStateRecord, 0, p.SerializeAsString()};
}

// The ballot a peer.pb.HardState record promises; false if it is corrupt.
bool ParsePromise(const std::string& payload, consensus::Ballot* out) {
  peer::pb::HardState hs;
  if (!hs.ParseFromString(payload)) return false;
  *out = {hs.promised().round(), hs.promised().node()};
  return true;
}

}  // namespace

std::string PaxosLogStore::AppliedKey() { return Key(0x04); }
std::string PaxosLogStore::IdentityKey() { return Key(0x06); }

void PaxosLogStore::PutApplied(consensus::Slot slot, leveldb::WriteBatch* b) { b->Put(AppliedKey(), U64(slot)); }
void PaxosLogStore::PutCompacted(consensus::Slot slot, leveldb::WriteBatch* b) { b->Put(Key(0x03), U64(slot)); }
void PaxosLogStore::PutInstalling(leveldb::WriteBatch* b) { b->Put(Key(0x05), ""); }
void PaxosLogStore::ClearInstalling(leveldb::WriteBatch* b) { b->Delete(Key(0x05)); }

StatusOr<std::unique_ptr<PaxosLogStore>> PaxosLogStore::Open(storage::Store* store, Wal::Options options) {
  if (options.env == nullptr) options.env = store->env();
  return std::unique_ptr<PaxosLogStore>(new PaxosLogStore(store, store->directory() + "/paxos", options));
}

std::vector<Wal::Record> PaxosLogStore::Head() const {
  if (!hard_state_) return {};
  return {HardStateRecord(*hard_state_)};
}

StatusOr<consensus::Restored> PaxosLogStore::Load() {
  wal_.reset();
  hard_state_.reset();
  std::vector<Wal::Record> records;
  auto w = Wal::Open(dir_, options_, &records);
  if (!w.ok()) return w.status();
  consensus::Restored r;
  for (auto& rec : records) {
    switch (rec.type) {
      case kHardStateRecord:
        if (!ParsePromise(rec.payload, &r.hard_state.promised)) {
          return absl::DataLossError("corrupt Paxos hard state in " + dir_);
        }
        hard_state_ = r.hard_state;
        break;
      case kEntryRecord: {
        peer::pb::Entry e;
        if (!e.ParseFromString(rec.payload)) return absl::DataLossError("corrupt Paxos log entry in " + dir_);
        r.entries[e.slot()] = FromProto(e);
        break;
      }
      case kResetRecord:
        r.entries.clear();
        break;
      default:
        return absl::DataLossError("unknown Paxos WAL record type " + std::to_string(rec.type) + " in " + dir_ +
                                   " (written by a newer version?)");
    }
    std::string().swap(rec.payload);
  }
  records.clear();
  wal_ = std::move(*w);
  // Appends go on in the last segment: it began with the promise of its
  // day and holds every later one, so it holds the promise in force.
  if (Status s = wal_->Continue(Head()); !s.ok()) return s;

  std::string v;
  Status s = store_->Get(Key(0x05), &v);
  if (s.ok()) {
    spdlog::warn(
        "a snapshot install was interrupted: wiping this node's data (its Paxos promise is kept); "
        "the leader will send a new snapshot");
    if (Status wipe = WipeData(); !wipe.ok()) return wipe;
    r.entries.clear();
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  auto applied = GetU64(store_, AppliedKey());
  if (!applied.ok()) return applied.status();
  auto compacted = GetU64(store_, Key(0x03));
  if (!compacted.ok()) return compacted.status();
  r.applied = *applied;
  r.compacted = std::min(*compacted, r.applied);
  auto members = ReadMembership(store_);
  if (!members.ok()) return members.status();
  if (*members) {
    r.membership = FromProto((*members)->membership());
    r.membership_slot = (*members)->slot();
  }
  for (auto e = r.entries.begin(); e != r.entries.end() && e->first <= r.compacted;) e = r.entries.erase(e);
  return r;
}

StatusOr<std::optional<peer::pb::MembershipRecord>> PaxosLogStore::ReadMembership(storage::Store* store) {
  std::string v;
  Status s = store->Get(storage::keys::MembershipKey(), &v);
  if (absl::IsNotFound(s)) return std::optional<peer::pb::MembershipRecord>();
  if (!s.ok()) return s;
  peer::pb::MembershipRecord rec;
  if (!rec.ParseFromString(v) || rec.membership().voters_size() == 0) {
    return absl::DataLossError("corrupt membership record in " + store->directory());
  }
  return std::optional<peer::pb::MembershipRecord>(std::move(rec));
}

Status PaxosLogStore::Persist(const std::optional<consensus::HardState>& hard_state,
                              const std::vector<consensus::Entry>& entries) {
  if (!hard_state && entries.empty()) return absl::OkStatus();
  if (wal_->ShouldRotate()) {
    if (Status s = wal_->Rotate(Head()); !s.ok()) return s;
  }
  std::vector<Wal::Record> records;
  records.reserve(entries.size() + 1);
  if (hard_state) {
    hard_state_ = *hard_state;
    records.push_back(HardStateRecord(*hard_state));
  }
  peer::pb::Entry p;
  for (const auto& e : entries) {
    p.Clear();
    ToProto(e, &p);
    records.push_back({kEntryRecord, e.slot, p.SerializeAsString()});
  }
  return wal_->Append(records);
}

Status PaxosLogStore::Compact(consensus::Slot upto) {
  auto applied = GetU64(store_, AppliedKey());
  if (!applied.ok()) return applied.status();
  if (upto > *applied) {
    return absl::FailedPreconditionError("cannot compact the Paxos log to slot " + std::to_string(upto) +
                                         " beyond the applied slot " + std::to_string(*applied));
  }
  leveldb::WriteBatch b;
  PutCompacted(upto, &b);
  if (Status s = store_->WriteSync(&b); !s.ok()) return s;
  return wal_->DropThrough(upto);
}

Status PaxosLogStore::WipeData() {
  // The WAL first: if the process dies before the KV data is gone, the
  // install marker is still there and the next start wipes again.
  std::vector<Wal::Record> head = Head();
  head.push_back({kResetRecord, 0, ""});
  if (Status s = wal_->StartOver(head); !s.ok()) return s;
  leveldb::WriteBatch b;
  auto it = store_->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!IsLogKey(it->key().ToString())) b.Delete(it->key());
  }
  if (!it->status().ok()) return absl::DataLossError(it->status().ToString());
  b.Delete(Key(0x03));
  b.Delete(Key(0x04));
  ClearInstalling(&b);
  return store_->WriteSync(&b);
}

}  // namespace kvgo::replication
