// StateMachine::ApplyWriter: one ObjectWriter of a write command (put,
// delete, their conditions, incr ids, TTL, the change log), spec 5.1.
#include "absl/strings/str_cat.h"
#include "common/kvspec.h"
#include "storage/apply_util.h"
#include "storage/keys.h"
#include "storage/state_machine.h"

namespace kvgo::storage {

namespace kv = lynkdb::kvspec::v2;
using apply::EncodeU64;
using apply::Result;
using kv::ObjectResult;

namespace {

constexpr uint32_t kViewMeta = 1;
constexpr uint32_t kViewData = 2;

}  // namespace

ObjectResult StateMachine::ApplyWriter(const kv::ObjectWriter& w, uint64_t now, MutationSink* sink) {
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
        Put(sink, ckey, EncodeU64(*cur + 1));
      } else if (meta.incr_id() > *cur) {
        Put(sink, ckey, EncodeU64(meta.incr_id()));
      }
    }
  }

  uint64_t version = 0;
  if (!log_off) {
    uint64_t floor = existing ? existing->meta().version() : 0;
    StatusOr<uint64_t> v = NextVersion(tid, floor, sink);
    if (!v.ok()) return StorageError(v.status());
    version = *v;
  }

  ObjectResult r = Result(kvspec::kStatusOK);
  r.mutable_meta()->set_version(version);
  r.mutable_meta()->set_incr_id(meta.incr_id());
  r.mutable_meta()->set_updated(meta.updated());

  // Removes the old object's index entries (log entry and TTL entry).
  auto drop_indexes = [&](const pb::StoredObject& old) {
    if (old.meta().version() > 0) Delete(sink, keys::Log(tid, old.meta().version()));
    if (old.meta().expired() > 0) Delete(sink, keys::Ttl(tid, old.meta().expired(), key));
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
      Delete(sink, okey);
      if (obj.meta().expired() > 0) Delete(sink, keys::Ttl(tid, obj.meta().expired(), key));
    } else {
      Put(sink, okey, obj.SerializeAsString());
    }
    return r;
  }

  if (is_delete) {
    drop_indexes(*existing);
    Delete(sink, okey);
    if (!log_off) {
      pb::LogRecord rec;
      rec.set_key(key);
      kv::ObjectMeta* t = rec.mutable_tombstone();
      *t = meta;
      t->set_version(version);
      t->set_attrs(t->attrs() | kvspec::kAttrDelete);
      t->set_data_check(0);
      t->set_data_attrs(0);
      Put(sink, keys::Log(tid, version), rec.SerializeAsString());
      Put(sink, keys::Tombstone(tid, key), EncodeU64(version));
    }
    return r;
  }

  // Put.
  if (existing) drop_indexes(*existing);
  if (tomb_raw.size() == 8) {
    Delete(sink, keys::Log(tid, keys::GetBig64(tomb_raw)));
    Delete(sink, keys::Tombstone(tid, key));
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
  Put(sink, okey, obj.SerializeAsString());
  if (version > 0) {
    pb::LogRecord rec;
    rec.set_key(key);
    Put(sink, keys::Log(tid, version), rec.SerializeAsString());
  }
  if (meta.expired() > 0) Put(sink, keys::Ttl(tid, meta.expired(), key), "");
  return r;
}

}  // namespace kvgo::storage
