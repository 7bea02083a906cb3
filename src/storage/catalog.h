// Catalog: what readers need to know about the applied state without
// reading LevelDB: tables by name and each table's latest log version.
// Published after each durable group by the thread that applied it (the
// Committer on a single node, the Replicator's driver in a cluster, through
// the effects callback of server.cc), and at startup from the store.
// (LogRange long-polls wait in server/LogWaiters, notified the same way.)
//
// Thread-safe: many readers, one publisher at a time.
#pragma once

#include <absl/synchronization/mutex.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "storage.pb.h"

namespace kvgo::storage {

class Catalog {
 public:
  // The table named `name`, if it exists.
  std::optional<pb::TableInfo> FindTable(const std::string& name) const;
  // All tables in name order.
  std::vector<pb::TableInfo> Tables() const;
  // The table's latest allocated log version (0 if none yet).
  uint64_t LogVersion(uint32_t tid) const;

  // Publication (the applying thread only).
  void PutTable(const pb::TableInfo& table);
  void PutLogVersions(const std::map<uint32_t, uint64_t>& versions);

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, pb::TableInfo> tables_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, uint64_t> log_versions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvgo::storage
