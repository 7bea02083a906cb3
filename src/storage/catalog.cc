#include "storage/catalog.h"

namespace kvgo::storage {

std::optional<pb::TableInfo> Catalog::FindTable(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = tables_.find(name);
  if (it == tables_.end()) return std::nullopt;
  return it->second;
}

std::vector<pb::TableInfo> Catalog::Tables() const {
  absl::MutexLock lock(&mu_);
  std::vector<pb::TableInfo> out;
  for (const auto& [name, t] : tables_) out.push_back(t);
  return out;
}

uint64_t Catalog::LogVersion(uint32_t tid) const {
  absl::MutexLock lock(&mu_);
  auto it = log_versions_.find(tid);
  return it == log_versions_.end() ? 0 : it->second;
}

void Catalog::PutTable(const pb::TableInfo& table) {
  absl::MutexLock lock(&mu_);
  tables_[table.name()] = table;
}

void Catalog::PutLogVersions(const std::map<uint32_t, uint64_t>& versions) {
  absl::MutexLock lock(&mu_);
  for (const auto& [tid, v] : versions) {
    uint64_t& cur = log_versions_[tid];
    if (v > cur) cur = v;
  }
}

}  // namespace kvgo::storage
