#include "storage/query.h"

#include <algorithm>

#include "common/kvspec.h"
#include "storage.pb.h"
#include "storage/keys.h"

namespace kvgo::storage {

namespace kv = lynkdb::kvspec::v2;

namespace {

constexpr uint32_t kViewMeta = 1;
constexpr uint32_t kViewData = 2;

struct Limits {
  int64_t num;
  int64_t size;
};

Limits ClampLimits(const kv::ObjectReader& r) {
  Limits l;
  l.num = std::clamp<int64_t>(r.limit_num(), 1, kvspec::kLimitNumMax);
  l.size = r.limit_size() < 1 ? kvspec::kLimitSizeMax : std::min<int64_t>(r.limit_size(), kvspec::kLimitSizeMax);
  return l;
}

// Accumulates items under the limits of docs/wire-api.md 4.4. Returns false
// when the scan must stop.
// Takes `item`'s size from `budget` (if any); on a refusal turns `out` into
// the refusal (docs: ReplyBudget) and returns false.
bool TakeBudget(ReplyBudget* budget, size_t bytes, kv::ObjectResult* out) {
  if (budget == nullptr) return true;
  Status s = budget->Take(bytes);
  if (s.ok()) return true;
  out->Clear();
  out->set_status(absl::IsInvalidArgument(s) ? kvspec::kStatusClientError : kvspec::kStatusServerError);
  out->set_message(std::string(s.message()));
  return false;
}

class Pager {
 public:
  Pager(Limits limits, ReplyBudget* budget, kv::ObjectResult* out) : limits_(limits), budget_(budget), out_(out) {}

  // False when the scan must stop: a limit was hit (`next` set), or the
  // budget refused the item (refused() then).
  bool Add(kv::ObjectItem&& item) {
    const int64_t r = static_cast<int64_t>(item.ByteSizeLong());
    if (out_->items_size() > 0 && read_size_ + r > limits_.size) {
      out_->set_next(true);
      return false;
    }
    if (!TakeBudget(budget_, static_cast<size_t>(r), out_)) {
      refused_ = true;
      return false;
    }
    read_size_ += r;
    *out_->add_items() = std::move(item);
    if (out_->items_size() >= limits_.num || read_size_ >= limits_.size) {
      out_->set_next(true);
      return false;
    }
    return true;
  }

  bool refused() const { return refused_; }

 private:
  Limits limits_;
  ReplyBudget* budget_;
  kv::ObjectResult* out_;
  int64_t read_size_ = 0;
  bool refused_ = false;
};

// Builds the item a Key/KeyRange read returns from `obj` through the meta
// view (meta_view) or the data view. False if that view does not hold it.
bool ViewItem(pb::StoredObject&& obj, bool meta_view, kv::ObjectItem* item) {
  if (meta_view) {
    if ((obj.views() & kViewMeta) == 0) return false;
    const bool with_data = (obj.views() & kViewData) == 0 && obj.has_data();
    *item->mutable_meta() = std::move(*obj.mutable_meta());
    if (with_data) *item->mutable_data() = std::move(*obj.mutable_data());
    return true;
  }
  if ((obj.views() & kViewData) == 0) return false;
  *item->mutable_meta() = std::move(*obj.mutable_meta());
  *item->mutable_data() = std::move(*obj.mutable_data());
  return true;
}

bool Expired(const pb::StoredObject& obj, int64_t now_ms) {
  return obj.meta().expired() > 0 && obj.meta().expired() < static_cast<uint64_t>(now_ms);
}

bool MetaView(const kv::ObjectReader& r) {
  return (r.mode() & kvspec::kReadModeMetaOnly) != 0 || (r.attrs() & kvspec::kAttrDataOff) != 0;
}

void SetServerError(kv::ObjectResult* out, const std::string& msg) {
  out->set_status(kvspec::kStatusServerError);
  out->set_message(msg);
}

}  // namespace

kv::ObjectResult QueryEngine::Query(const kv::ObjectReader& reader, ReplyBudget* budget) const {
  kv::ObjectResult out;
  const std::string name = reader.table_name().empty() ? kvspec::kMainTable : reader.table_name();
  auto table = catalog_->FindTable(name);
  if (!table) {
    out.set_status(kvspec::kStatusClientError);
    out.set_message("table not found");
    return out;
  }
  const uint32_t tid = table->id();
  out.set_status(kvspec::kStatusOK);
  const uint64_t mode = reader.mode();
  bool complete = true;
  if (mode & kvspec::kReadModeKey) {
    complete = QueryKeys(reader, tid, budget, &out);
  } else if (mode & kvspec::kReadModeKeyRange) {
    complete = QueryRange(reader, tid, (mode & kvspec::kReadModeRevRange) != 0, budget, &out);
  } else if (mode & kvspec::kReadModeLogRange) {
    complete = QueryLog(reader, tid, budget, &out);
  } else {
    out.set_status(kvspec::kStatusClientError);
    out.set_message("invalid mode");
  }
  if (complete && out.log_version() == 0) out.set_log_version(catalog_->LogVersion(tid));
  return out;
}

bool QueryEngine::QueryKeys(const kv::ObjectReader& r, uint32_t tid, ReplyBudget* budget, kv::ObjectResult* out) const {
  const bool meta_view = MetaView(r);
  const int64_t now = clock_->NowMs();
  const auto snap = store_->TakeSnapshot();
  for (const std::string& key : r.keys()) {
    std::string raw;
    Status s = store_->Get(keys::Object(tid, key), &raw, snap.get());
    if (absl::IsNotFound(s)) continue;
    if (!s.ok()) {
      SetServerError(out, std::string(s.message()));
      return true;
    }
    pb::StoredObject obj;
    if (!obj.ParseFromString(raw)) {
      SetServerError(out, "corrupt object record");
      continue;
    }
    if (Expired(obj, now)) continue;
    kv::ObjectItem item;
    if (!ViewItem(std::move(obj), meta_view, &item)) continue;
    if (!TakeBudget(budget, item.ByteSizeLong(), out)) return false;
    *out->add_items() = std::move(item);
  }
  if (r.keys_size() == 1 && out->items_size() == 0 && out->status() == kvspec::kStatusOK) {
    out->set_status(kvspec::kStatusNotFound);
  }
  return true;
}

bool QueryEngine::QueryRange(const kv::ObjectReader& r, uint32_t tid, bool reverse, ReplyBudget* budget,
                             kv::ObjectResult* out) const {
  const bool meta_view = MetaView(r);
  const int64_t now = clock_->NowMs();
  const std::string prefix = keys::ObjectPrefix(tid);
  Pager pager(ClampLimits(r), budget, out);
  const auto snap = store_->TakeSnapshot();
  auto it = store_->NewIterator(snap.get());
  // Decodes the current record; true to go on scanning.
  auto visit = [&]() -> bool {
    pb::StoredObject obj;
    if (!obj.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) return true;
    if (Expired(obj, now)) return true;
    kv::ObjectItem item;
    if (!ViewItem(std::move(obj), meta_view, &item)) return true;
    return pager.Add(std::move(item));
  };

  if (!reverse) {
    // key_offset < k < key_cutset ++ 0xFF
    const std::string start = prefix + r.key_offset();
    const std::string end = prefix + r.key_cutset() + "\xff";
    for (it->Seek(start); it->Valid(); it->Next()) {
      leveldb::Slice k = it->key();
      if (k.compare(end) >= 0) break;
      if (!r.key_offset().empty() && k == leveldb::Slice(start)) continue;
      if (!visit()) break;
    }
  } else if (!r.key_offset().empty()) {
    // key_cutset <= k < key_offset, descending
    const std::string lower = prefix + r.key_cutset();
    const std::string upper = prefix + r.key_offset();
    it->Seek(upper);
    if (it->Valid()) {
      it->Prev();
    } else {
      it->SeekToLast();
    }
    for (; it->Valid(); it->Prev()) {
      leveldb::Slice k = it->key();
      if (k.compare(lower) < 0 || !k.starts_with(prefix)) break;
      if (k.compare(upper) >= 0) continue;
      if (!visit()) break;
    }
  }
  if (pager.refused()) return false;
  if (!it->status().ok()) {
    SetServerError(out, it->status().ToString());
    return true;
  }
  if (out->items_size() == 0) {
    out->set_status(kvspec::kStatusNotFound);
    out->set_next(false);
  }
  return true;
}

bool QueryEngine::QueryLog(const kv::ObjectReader& r, uint32_t tid, ReplyBudget* budget, kv::ObjectResult* out) const {
  const uint64_t offset = r.log_offset();
  const uint64_t latest = catalog_->LogVersion(tid);
  out->set_log_version(latest);
  if (offset == UINT64_MAX || latest <= offset) return true;

  Pager pager(ClampLimits(r), budget, out);
  const auto snap = store_->TakeSnapshot();
  auto it = store_->NewIterator(snap.get());
  const std::string prefix = keys::LogPrefix(tid);
  for (it->Seek(keys::Log(tid, offset + 1)); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const uint64_t version =
        keys::GetBig64(std::string_view(it->key().data() + prefix.size(), it->key().size() - prefix.size()));
    pb::LogRecord rec;
    if (!rec.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
    kv::ObjectItem item;
    if (rec.has_tombstone()) {
      *item.mutable_meta() = std::move(*rec.mutable_tombstone());
    } else {
      std::string raw;
      if (!store_->Get(keys::Object(tid, rec.key()), &raw, snap.get()).ok()) continue;
      pb::StoredObject obj;
      if (!obj.ParseFromString(raw)) continue;
      if (obj.meta().version() != version || !obj.has_data()) continue;
      if ((obj.views() & kViewData) == 0 && (obj.meta().attrs() & kvspec::kAttrDataOff) == 0) {
        continue;  // data removed by DeleteDataOnly
      }
      *item.mutable_meta() = std::move(*obj.mutable_meta());
      *item.mutable_data() = std::move(*obj.mutable_data());
    }
    if (!pager.Add(std::move(item))) break;
  }
  if (pager.refused()) return false;
  if (!it->status().ok()) SetServerError(out, it->status().ToString());
  return true;
}

uint64_t QueryEngine::TableSize(uint32_t tid) const {
  const std::string p = keys::ObjectPrefix(tid);
  return store_->ApproximateSize(p, keys::PrefixEnd(p));
}

}  // namespace kvgo::storage
