#include "storage/state_machine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/kvspec.h"
#include "storage/apply_util.h"
#include "storage/keys.h"

namespace kvgo::storage {

namespace kv = lynkdb::kvspec::v2;
using kv::ObjectResult;

using apply::EncodeU64;
using apply::Result;

namespace {

constexpr char kFormat[] = "1";

pb::TableInfo MakeTable(const std::string& name, uint32_t id, uint64_t now_ms) {
  pb::TableInfo t;
  t.set_name(name);
  t.set_id(id);
  t.set_created(now_ms);
  t.set_updated(now_ms);
  return t;
}

}  // namespace

lynkdb::kvspec::v2::ObjectResult StateMachine::StorageError(const Status& s) {
  if (read_error_.ok()) read_error_ = s;
  return Result(kvspec::kStatusServerError, std::string(s.message()));
}

StatusOr<std::unique_ptr<StateMachine>> StateMachine::Open(Store* store) {
  std::unique_ptr<StateMachine> sm(new StateMachine(store));
  std::string format;
  Status s = store->Get(keys::FormatVersion(), &format);
  if (s.ok()) {
    if (format != kFormat) {
      return absl::FailedPreconditionError(absl::StrCat("data directory ", store->directory(), " has on-disk format ",
                                                        format, "; this kvgo-server reads format ", kFormat));
    }
    return sm;
  }
  if (!absl::IsNotFound(s)) return s;
  // A new store: write the format and the built-in tables in one batch.
  leveldb::WriteBatch batch;
  batch.Put(keys::FormatVersion(), kFormat);
  batch.Put(keys::Table(kvspec::kMainTable),
            MakeTable(kvspec::kMainTable, kvspec::kMainTableId, 0).SerializeAsString());
  batch.Put(keys::Table(kvspec::kSysTable), MakeTable(kvspec::kSysTable, kvspec::kSysTableId, 0).SerializeAsString());
  batch.Put(keys::NextTableId(), EncodeU64(kvspec::kFirstUserTableId));
  if (Status w = store->WriteSync(&batch); !w.ok()) return w;
  return sm;
}

void StateMachine::ForgetTable(const std::string& key) {
  if (!tables_.empty() && !key.empty() && key[0] == keys::kSys && key.rfind(keys::TablePrefix(), 0) == 0) {
    tables_.clear();
  }
}

StatusOr<StateMachine::Effects> StateMachine::LoadEffects() {
  tables_.clear();  // the store may have been replaced (a snapshot install)
  Effects e;
  {
    std::string v;
    Status s = store_->Get(keys::ApplyRulesFloor(), &v);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    if (s.ok() && v.size() != 8) return absl::DataLossError("corrupt apply rules record");
    e.apply_rules_floor = s.ok() ? static_cast<uint32_t>(keys::GetBig64(v)) : 0;
    rules_floor_ = rules_floor_committed_ = e.apply_rules_floor;
  }
  auto it = store_->NewIterator();
  const std::string tp = keys::TablePrefix();
  for (it->Seek(tp); it->Valid() && it->key().starts_with(tp); it->Next()) {
    pb::TableInfo t;
    if (!t.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt table record " + it->key().ToString());
    }
    StatusOr<uint64_t> v = GetCounter(keys::VersionCounter(t.id()));
    if (!v.ok()) return v.status();
    e.log_versions[t.id()] = *v;
    e.tables.push_back(std::move(t));
  }
  const std::string ap = keys::AccessKeyPrefix();
  for (it->Seek(ap); it->Valid() && it->key().starts_with(ap); it->Next()) {
    hooto::hauth::v1::AccessKey k;
    if (!k.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("corrupt access key record " + it->key().ToString());
    }
    e.access_keys.push_back(std::move(k));
  }
  if (!it->status().ok()) return absl::UnavailableError(it->status().ToString());
  return e;
}

Status StateMachine::Get(const std::string& key, std::string* value) const {
  if (auto it = overlay_.find(key); it != overlay_.end()) {
    if (!it->second.has_value()) return absl::NotFoundError("deleted");
    *value = *it->second;
    return absl::OkStatus();
  }
  return store_->Get(key, value);
}

void StateMachine::Put(MutationSink* sink, const std::string& key, const std::string& value) {
  ForgetTable(key);
  sink->Put(key, value);
  overlay_[key] = value;
}

void StateMachine::Delete(MutationSink* sink, const std::string& key) {
  ForgetTable(key);
  sink->Delete(key);
  overlay_[key] = std::nullopt;
}

StatusOr<uint64_t> StateMachine::GetCounter(const std::string& key) const {
  std::string v;
  Status s = Get(key, &v);
  if (absl::IsNotFound(s)) return kvspec::kCounterStart;
  if (!s.ok()) return s;
  if (v.size() != 8) return absl::DataLossError("corrupt counter " + key);
  return keys::GetBig64(v);
}

StatusOr<std::optional<pb::TableInfo>> StateMachine::GetTable(const std::string& name) {
  std::string key = keys::Table(name);
  const bool stored = overlay_.count(key) == 0;  // else this group wrote it
  if (stored) {
    if (auto it = tables_.find(key); it != tables_.end()) return std::optional<pb::TableInfo>(it->second);
  }
  std::string v;
  Status s = Get(key, &v);
  if (absl::IsNotFound(s)) return std::optional<pb::TableInfo>();
  if (!s.ok()) return s;
  pb::TableInfo t;
  if (!t.ParseFromString(v)) return absl::DataLossError("corrupt table record " + name);
  if (stored) tables_.emplace(std::move(key), t);
  return std::optional<pb::TableInfo>(std::move(t));
}

StatusOr<uint64_t> StateMachine::NextVersion(uint32_t tid, uint64_t floor, MutationSink* sink) {
  StatusOr<uint64_t> cur = GetCounter(keys::VersionCounter(tid));
  if (!cur.ok()) return cur.status();
  uint64_t v = std::max(*cur, floor) + 1;
  Put(sink, keys::VersionCounter(tid), EncodeU64(v));
  effects_.log_versions[tid] = v;
  sink->Version(tid, v);
  return v;
}

Status StateMachine::Apply(const pb::Command& cmd, MutationSink* sink, pb::CommandResult* result) {
  pb::CommandResult& out = *result;
  out.Clear();
  read_error_ = absl::OkStatus();
  const uint64_t now = cmd.now_ms();
  rules_ = cmd.apply_rules();
  if (rules_ > rules_floor_) {
    Put(sink, keys::ApplyRulesFloor(), EncodeU64(rules_));
    rules_floor_ = rules_;
  }
  if (cmd.has_write()) {
    for (const auto& w : cmd.write().writers()) *out.add_results() = ApplyWriter(w, now, sink);
  } else if (cmd.has_table_set()) {
    *out.add_results() = ApplyTableSet(cmd.table_set(), now, sink);
  } else if (cmd.has_access_key_set()) {
    *out.add_results() = ApplyAccessKeySet(cmd.access_key_set(), now, sink);
  } else if (cmd.has_purge()) {
    *out.add_results() = ApplyPurge(cmd.purge(), now, sink);
  } else {
    *out.add_results() = Result(kvspec::kStatusClientError, "empty command");
  }
  return read_error_;
}

ObjectResult StateMachine::ApplyTableSet(const pb::TableSetCommand& c, uint64_t now, MutationSink* sink) {
  auto table = GetTable(c.name());
  if (!table.ok()) return StorageError(table.status());
  pb::TableInfo t;
  if (table->has_value()) {
    t = **table;
  } else {
    StatusOr<uint64_t> next = GetCounter(keys::NextTableId());
    if (!next.ok()) return StorageError(next.status());
    t = MakeTable(c.name(), static_cast<uint32_t>(*next), now);
    Put(sink, keys::NextTableId(), EncodeU64(*next + 1));
  }
  t.set_desc(c.desc());
  t.set_updated(std::max(now, t.updated()));
  StatusOr<uint64_t> v = NextVersion(kvspec::kSysTableId, 0, sink);
  if (!v.ok()) return StorageError(v.status());
  t.set_version(*v);
  Put(sink, keys::Table(t.name()), t.SerializeAsString());
  effects_.tables.push_back(t);

  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_key("sys:table:" + t.name());
  r.mutable_meta()->set_version(t.version());
  r.mutable_meta()->set_incr_id(t.id());
  r.mutable_meta()->set_created(t.created());
  r.mutable_meta()->set_updated(t.updated());
  return r;
}

ObjectResult StateMachine::ApplyAccessKeySet(const pb::AccessKeySetCommand& c, uint64_t now, MutationSink* sink) {
  const std::string akey = keys::AccessKey(c.key().id());
  hooto::hauth::v1::AccessKey key = c.key();
  if (!c.create()) {
    std::string raw;
    Status s = Get(akey, &raw);
    if (absl::IsNotFound(s)) return Result(kvspec::kStatusClientError, "access key not found");
    if (!s.ok()) return StorageError(s);
    hooto::hauth::v1::AccessKey old;
    if (!old.ParseFromString(raw)) return Result(kvspec::kStatusServerError, "corrupt access key");
    // Only roles and scopes change; the secret in the request is ignored.
    key.set_secret(old.secret());
  }
  StatusOr<uint64_t> v = NextVersion(kvspec::kSysTableId, 0, sink);
  if (!v.ok()) return StorageError(v.status());
  Put(sink, akey, key.SerializeAsString());
  effects_.access_keys.push_back(key);
  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_version(*v);
  r.mutable_meta()->set_updated(now);
  return r;
}

ObjectResult StateMachine::ApplyPurge(const pb::PurgeCommand& c, uint64_t now, MutationSink* sink) {
  for (const auto& t : c.targets()) {
    auto table = GetTable(t.table());
    if (!table.ok()) return StorageError(table.status());
    if (!table->has_value()) continue;
    const uint32_t tid = (*table)->id();
    const std::string okey = keys::Object(tid, t.key());
    std::string raw;
    Status s = Get(okey, &raw);
    if (!s.ok() && !absl::IsNotFound(s)) return StorageError(s);
    pb::StoredObject obj;
    const bool same = s.ok() && obj.ParseFromString(raw) && obj.meta().expired() == t.expired();
    if (same && (t.expired() == 0 || t.expired() >= now)) continue;  // not expired (yet)
    if (same) {
      Delete(sink, okey);
      if (obj.meta().version() > 0) Delete(sink, keys::Log(tid, obj.meta().version()));
    }
    // The TTL entry is either purged with its object or was stale.
    Delete(sink, keys::Ttl(tid, t.expired(), t.key()));
  }
  return Result(kvspec::kStatusOK);
}

StateMachine::Effects StateMachine::Commit() {
  overlay_.clear();
  Effects e = std::move(effects_);
  effects_ = Effects();
  rules_floor_committed_ = rules_floor_;
  e.apply_rules_floor = rules_floor_;
  return e;
}

void StateMachine::ApplyPrecomputed(pb::Command* cmd, leveldb::WriteBatch* batch) {
  // The mutations hold the rules floor's record when it rose.
  rules_floor_ = std::max(rules_floor_, cmd->apply_rules());
  for (auto& m : *cmd->mutable_precomputed()->mutable_mutations()) {
    ForgetTable(m.key());
    if (m.del()) {
      batch->Delete(m.key());
      overlay_[m.key()] = std::nullopt;
    } else {
      batch->Put(m.key(), m.value());
      overlay_[m.key()] = std::move(*m.mutable_value());
    }
  }
  for (const auto& [tid, v] : cmd->precomputed().log_versions()) effects_.log_versions[tid] = v;
}

void StateMachine::Reset(uint32_t floor) {
  overlay_.clear();
  tables_.clear();
  effects_ = Effects();
  rules_floor_ = rules_floor_committed_ = floor;
}

void StateMachine::Rollback() {
  overlay_.clear();
  tables_.clear();
  effects_ = Effects();
  rules_floor_ = rules_floor_committed_;
}

}  // namespace kvgo::storage
