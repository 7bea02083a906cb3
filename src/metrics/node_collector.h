// NodeCollector: metrics computed at scrape time from the node's state:
// LevelDB (files and compactions per level, memtable, block cache), disk
// use and free space of the data directory, the process (resident memory,
// open files, start time), and the replication view (single node for now:
// this node is the leader of a one-member cluster).
//
// Thread-safe: Collect may run on the HTTP threads while the server runs.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>

#include "storage/committer.h"
#include "storage/store.h"

namespace kvgo::metrics {

class NodeCollector : public prometheus::Collectable {
 public:
  // REQUIRES: store and committer outlive the collector.
  NodeCollector(const storage::Store* store, const storage::Committer* committer,
                int64_t start_unix_s, size_t cluster_members)
      : store_(store), committer_(committer), start_unix_s_(start_unix_s), members_(cluster_members) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const storage::Store* const store_;
  const storage::Committer* const committer_;
  const int64_t start_unix_s_;
  const size_t members_;
};

}  // namespace kvgo::metrics
