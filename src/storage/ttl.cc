#include "storage/ttl.h"

#include "storage/keys.h"

namespace kvgo::storage {

pb::PurgeCommand CollectExpired(const Store& store, const std::vector<pb::TableInfo>& tables, int64_t now_ms,
                                size_t max_targets) {
  pb::PurgeCommand purge;
  auto it = store.NewIterator();
  for (const auto& t : tables) {
    const std::string prefix = keys::TtlPrefix(t.id());
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      if (static_cast<size_t>(purge.targets_size()) >= max_targets) return purge;
      std::string_view k(it->key().data() + prefix.size(), it->key().size() - prefix.size());
      if (k.size() < 8) continue;
      const uint64_t expired = keys::GetBig64(k);
      if (expired >= static_cast<uint64_t>(now_ms)) break;
      auto* target = purge.add_targets();
      target->set_table(t.name());
      target->set_key(std::string(k.substr(8)));
      target->set_expired(expired);
    }
  }
  return purge;
}

}  // namespace kvgo::storage
