#include "storage/state_machine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/kvspec.h"
#include "storage/keys.h"

namespace kvgo::storage {

namespace kv = lynkdb::kvspec::v2;
using kv::ObjectResult;

namespace {

constexpr char kFormat[] = "1";
constexpr uint32_t kViewMeta = 1;
constexpr uint32_t kViewData = 2;

ObjectResult Result(uint64_t status, std::string message = "") {
  ObjectResult r;
  r.set_status(status);
  r.set_message(std::move(message));
  return r;
}

ObjectResult ServerError(const Status& s) { return Result(kvspec::kStatusServerError, std::string(s.message())); }

std::string EncodeU64(uint64_t v) {
  std::string s;
  keys::PutBig64(&s, v);
  return s;
}

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
  storage_errors_++;
  return ServerError(s);
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

void StateMachine::Put(leveldb::WriteBatch* batch, const std::string& key, const std::string& value) {
  ForgetTable(key);
  if (capture_ != nullptr) {
    pb::Mutation* m = capture_->add_mutations();
    m->set_key(key);
    m->set_value(value);
  } else {
    batch->Put(key, value);
  }
  overlay_[key] = value;
}

void StateMachine::Delete(leveldb::WriteBatch* batch, const std::string& key) {
  ForgetTable(key);
  if (capture_ != nullptr) {
    pb::Mutation* m = capture_->add_mutations();
    m->set_key(key);
    m->set_del(true);
  } else {
    batch->Delete(key);
  }
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

StatusOr<uint64_t> StateMachine::NextVersion(uint32_t tid, uint64_t floor, leveldb::WriteBatch* batch) {
  StatusOr<uint64_t> cur = GetCounter(keys::VersionCounter(tid));
  if (!cur.ok()) return cur.status();
  uint64_t v = std::max(*cur, floor) + 1;
  Put(batch, keys::VersionCounter(tid), EncodeU64(v));
  effects_.log_versions[tid] = v;
  return v;
}

pb::CommandResult StateMachine::Apply(const pb::Command& cmd, leveldb::WriteBatch* batch) {
  pb::CommandResult out;
  const uint64_t now = cmd.now_ms();
  rules_ = cmd.apply_rules();
  if (rules_ > rules_floor_) {
    Put(batch, keys::ApplyRulesFloor(), EncodeU64(rules_));
    rules_floor_ = rules_;
  }
  if (cmd.has_write()) {
    for (const auto& w : cmd.write().writers()) *out.add_results() = ApplyWriter(w, now, batch);
  } else if (cmd.has_table_set()) {
    *out.add_results() = ApplyTableSet(cmd.table_set(), now, batch);
  } else if (cmd.has_access_key_set()) {
    *out.add_results() = ApplyAccessKeySet(cmd.access_key_set(), now, batch);
  } else if (cmd.has_purge()) {
    *out.add_results() = ApplyPurge(cmd.purge(), now, batch);
  } else {
    *out.add_results() = Result(kvspec::kStatusClientError, "empty command");
  }
  return out;
}

ObjectResult StateMachine::ApplyWriter(const kv::ObjectWriter& w, uint64_t now, leveldb::WriteBatch* batch) {
  // ---- reads (no mutation before all of them succeeded) ----
  auto table = GetTable(w.table_name().empty() ? kvspec::kMainTable : w.table_name());
  if (!table.ok()) return StorageError(table.status());
  if (!table->has_value()) return Result(kvspec::kStatusServerError, "table not found");
  const uint32_t tid = (*table)->id();
  const std::string& key = w.meta().key();
  const std::string okey = keys::Object(tid, key);

  std::optional<pb::StoredObject> existing;  // live, unexpired object
  std::optional<pb::StoredObject> stale;     // expired, not yet purged
  {
    std::string raw;
    Status s = Get(okey, &raw);
    if (!s.ok() && !absl::IsNotFound(s)) return StorageError(s);
    if (s.ok()) {
      pb::StoredObject obj;
      if (!obj.ParseFromString(raw)) return Result(kvspec::kStatusServerError, "corrupt object record");
      if (obj.meta().expired() > 0 && obj.meta().expired() < now) {
        stale = std::move(obj);
      } else {
        existing = std::move(obj);
      }
    }
  }
  const uint64_t mode = w.mode();
  const bool is_delete = (mode & kvspec::kWriteModeDelete) != 0;
  const bool data_only = is_delete && (mode & kvspec::kWriteModeDeleteDataOnly) != 0;
  const bool log_off = (mode & kvspec::kWriteModeLogOff) != 0;

  if (!existing) {
    if (is_delete) return Result(kvspec::kStatusOK);
  } else {
    const kv::ObjectMeta& em = existing->meta();
    if (w.prev_version() > 0 && w.prev_version() != em.version()) {
      return Result(kvspec::kStatusClientError, "invalid prev_version");
    }
    if (w.prev_data_check() > 0 && w.prev_data_check() != em.data_check()) {
      return Result(kvspec::kStatusClientError, "invalid prev_data_check");
    }
    if (w.prev_attrs() > 0 && (em.attrs() & w.prev_attrs()) != w.prev_attrs()) {
      return Result(kvspec::kStatusClientError, "invalid prev_attrs");
    }
    if (w.prev_incr_id() > 0 && w.prev_incr_id() != em.incr_id()) {
      return Result(kvspec::kStatusClientError, "invalid prev_incr_id");
    }
    const bool same =
        w.meta().expired() == em.expired() && (w.meta().incr_id() == 0 || w.meta().incr_id() == em.incr_id()) &&
        (w.prev_incr_id() == 0 || w.prev_incr_id() == em.incr_id()) && w.meta().data_check() == em.data_check();
    if ((mode & kvspec::kWriteModeCreate) != 0 || same) {
      ObjectResult r = Result(kvspec::kStatusOK);
      r.mutable_meta()->set_version(em.version());
      r.mutable_meta()->set_incr_id(em.incr_id());
      r.mutable_meta()->set_created(em.created());
      r.mutable_meta()->set_updated(em.updated());
      return r;
    }
  }

  // Merge into the request meta (docs/wire-api.md 5.3, 5.4).
  kv::ObjectMeta meta = w.meta();
  meta.set_version(0);
  std::string incr_ns = w.incr_namespace();
  if (existing) {
    const kv::ObjectMeta& em = existing->meta();
    if (meta.incr_id() == 0) meta.set_incr_id(em.incr_id());
    meta.set_attrs(meta.attrs() | em.attrs());
    if (em.created() > 0) meta.set_created(em.created());
    if (meta.extra().empty()) meta.set_extra(em.extra());
    // `updated` never goes backwards for a key, whatever the clocks do.
    meta.set_updated(std::max(now, em.updated()));
  } else {
    meta.set_updated(now);
    if (meta.created() == 0) meta.set_created(now);
  }

  // A key's delete tombstone (its `x` entry) exists only while the key has
  // no object: a delete writes it in the batch that removes the object, and
  // the put that brings the key back removes it. So only a key without an
  // object, live or expired, needs the lookup.
  std::string tomb_raw;
  if (!existing && !stale) {
    Status s = Get(keys::Tombstone(tid, key), &tomb_raw);
    if (!s.ok() && !absl::IsNotFound(s)) return StorageError(s);
    if (!s.ok()) tomb_raw.clear();
  }

  // incr counter (puts only). The default namespace applies when the
  // request itself carries an id (spec 5.1 step 6), not for an id inherited
  // from the existing object.
  if (!is_delete) {
    const uint64_t own_id = w.meta().incr_id();
    if (own_id > 0 && incr_ns.empty()) incr_ns = kvspec::kDefaultIncrNamespace;
    if (!incr_ns.empty()) {
      const std::string ckey = keys::IncrCounter(tid, incr_ns);
      StatusOr<uint64_t> cur = GetCounter(ckey);
      if (!cur.ok()) return StorageError(cur.status());
      if (meta.incr_id() == 0) {
        // An explicit incr_id may raise the counter to the top; it never
        // wraps (0 means "no id", and ids would repeat).
        if (*cur == UINT64_MAX) {
          return Result(kvspec::kStatusClientError,
                        absl::StrCat("incr ids of namespace ", incr_ns,
                                     " are used up (an explicit incr_id of 18446744073709551615 was written): "
                                     "give this write its own incr_id, or use another incr_namespace"));
        }
        meta.set_incr_id(*cur + 1);
        Put(batch, ckey, EncodeU64(*cur + 1));
      } else if (meta.incr_id() > *cur) {
        Put(batch, ckey, EncodeU64(meta.incr_id()));
      }
    }
  }

  uint64_t version = 0;
  if (!log_off) {
    uint64_t floor = existing ? existing->meta().version() : 0;
    StatusOr<uint64_t> v = NextVersion(tid, floor, batch);
    if (!v.ok()) return StorageError(v.status());
    version = *v;
  }

  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_version(version);
  r.mutable_meta()->set_incr_id(meta.incr_id());
  r.mutable_meta()->set_updated(meta.updated());

  // Removes the old object's index entries (log entry and TTL entry).
  auto drop_indexes = [&](const pb::StoredObject& old) {
    if (old.meta().version() > 0) Delete(batch, keys::Log(tid, old.meta().version()));
    if (old.meta().expired() > 0) Delete(batch, keys::Ttl(tid, old.meta().expired(), key));
  };
  if (stale) drop_indexes(*stale);

  if (data_only) {
    // Only the data view goes; the meta view stays unchanged (old version).
    pb::StoredObject obj = *existing;
    if (obj.views() & kViewData) {
      obj.set_views(obj.views() & ~kViewData);
      if ((obj.meta().attrs() & kvspec::kAttrDataOff) == 0) obj.clear_data();
    }
    if (obj.views() == 0) {
      Delete(batch, okey);
      if (obj.meta().expired() > 0) Delete(batch, keys::Ttl(tid, obj.meta().expired(), key));
    } else {
      Put(batch, okey, obj.SerializeAsString());
    }
    return r;
  }

  if (is_delete) {
    drop_indexes(*existing);
    Delete(batch, okey);
    if (!log_off) {
      pb::LogRecord rec;
      rec.set_key(key);
      kv::ObjectMeta* t = rec.mutable_tombstone();
      *t = meta;
      t->set_version(version);
      t->set_attrs(t->attrs() | kvspec::kAttrDelete);
      t->set_data_check(0);
      t->set_data_attrs(0);
      Put(batch, keys::Log(tid, version), rec.SerializeAsString());
      Put(batch, keys::Tombstone(tid, key), EncodeU64(version));
    }
    return r;
  }

  // Put.
  if (existing) drop_indexes(*existing);
  if (tomb_raw.size() == 8) {
    Delete(batch, keys::Log(tid, keys::GetBig64(tomb_raw)));
    Delete(batch, keys::Tombstone(tid, key));
  }
  pb::StoredObject obj;
  meta.set_version(version);
  meta.set_data_check(w.data().check());
  meta.set_data_attrs(w.data().attrs());
  *obj.mutable_meta() = meta;
  *obj.mutable_data() = w.data();
  if (meta.attrs() & kvspec::kAttrDataOff) {
    obj.set_views(kViewMeta);
  } else if (meta.attrs() & kvspec::kAttrMetaOff) {
    obj.set_views(kViewData);
  } else {
    obj.set_views(kViewMeta | kViewData);
  }
  Put(batch, okey, obj.SerializeAsString());
  if (version > 0) {
    pb::LogRecord rec;
    rec.set_key(key);
    Put(batch, keys::Log(tid, version), rec.SerializeAsString());
  }
  if (meta.expired() > 0) Put(batch, keys::Ttl(tid, meta.expired(), key), "");
  return r;
}

ObjectResult StateMachine::ApplyTableSet(const pb::TableSetCommand& c, uint64_t now, leveldb::WriteBatch* batch) {
  auto table = GetTable(c.name());
  if (!table.ok()) return StorageError(table.status());
  pb::TableInfo t;
  if (table->has_value()) {
    t = **table;
  } else {
    StatusOr<uint64_t> next = GetCounter(keys::NextTableId());
    if (!next.ok()) return StorageError(next.status());
    t = MakeTable(c.name(), static_cast<uint32_t>(*next), now);
    Put(batch, keys::NextTableId(), EncodeU64(*next + 1));
  }
  t.set_desc(c.desc());
  t.set_updated(std::max(now, t.updated()));
  StatusOr<uint64_t> v = NextVersion(kvspec::kSysTableId, 0, batch);
  if (!v.ok()) return StorageError(v.status());
  t.set_version(*v);
  Put(batch, keys::Table(t.name()), t.SerializeAsString());
  effects_.tables.push_back(t);

  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_key("sys:table:" + t.name());
  r.mutable_meta()->set_version(t.version());
  r.mutable_meta()->set_incr_id(t.id());
  r.mutable_meta()->set_created(t.created());
  r.mutable_meta()->set_updated(t.updated());
  return r;
}

ObjectResult StateMachine::ApplyAccessKeySet(const pb::AccessKeySetCommand& c, uint64_t now,
                                             leveldb::WriteBatch* batch) {
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
  StatusOr<uint64_t> v = NextVersion(kvspec::kSysTableId, 0, batch);
  if (!v.ok()) return StorageError(v.status());
  Put(batch, akey, key.SerializeAsString());
  effects_.access_keys.push_back(key);
  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_version(*v);
  r.mutable_meta()->set_updated(now);
  return r;
}

ObjectResult StateMachine::ApplyPurge(const pb::PurgeCommand& c, uint64_t now, leveldb::WriteBatch* batch) {
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
      Delete(batch, okey);
      if (obj.meta().version() > 0) Delete(batch, keys::Log(tid, obj.meta().version()));
    }
    // The TTL entry is either purged with its object or was stale.
    Delete(batch, keys::Ttl(tid, t.expired(), t.key()));
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

pb::CommandResult StateMachine::Precompute(const pb::Command& cmd, pb::Precomputed* out) {
  effects_.log_versions.clear();
  capture_ = out;  // Put and Delete record into `out` instead of a batch
  pb::CommandResult result = Apply(cmd, nullptr);
  capture_ = nullptr;
  for (const auto& [tid, v] : effects_.log_versions) (*out->mutable_log_versions())[tid] = v;
  return result;
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
