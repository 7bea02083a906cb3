// NodeCollector: metrics computed at scrape time from the node's state:
// LevelDB (files and compactions per level, memtable, block cache), disk
// use and free space of the data directory, the process (resident memory,
// open files, start time), and the replication view (ClusterView, from the
// Committer on a single node or the Replicator in a cluster).
//
// Thread-safe: Collect may run on the HTTP threads while the server runs.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage/store.h"

namespace kvgo::metrics {

// The replication state at scrape time. A single node is the leader of a
// one-member log whose entries are its durable groups.
struct ClusterView {
  size_t members = 1;
  bool is_leader = true;
  bool leader_known = true;
  std::string role = "leader";  // follower, pre-candidate, candidate, leader
  std::string leader_addr;      // "" if unknown
  uint64_t ballot_round = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t compacted = 0;
  uint64_t leader_changes = 0;
  uint64_t entries_skipped = 0;  // precomputed chains cut by a leader change
  uint64_t commands = 0;         // commands applied since start
  uint64_t forwarded = 0;
  uint64_t forward_calls = 0;
  uint64_t wal_bytes = 0;
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  // The apply rules this node's proposals get now (a rolling upgrade is
  // complete when every node shows the new version's number).
  uint32_t apply_rules = 0;
  struct Peer {
    std::string addr;
    bool connected = false;
    uint64_t dropped = 0;  // messages dropped (queue full or peer down)
  };
  std::vector<Peer> peers;
  // Peer-service calls refused by authentication, by reason (label value).
  std::vector<std::pair<std::string, uint64_t>> peer_calls_refused;
};

class NodeCollector : public prometheus::Collectable {
 public:
  // REQUIRES: store outlives the collector; `cluster` may be called on any
  // thread until then.
  // `min_free_bytes` is [storage] min_free_bytes (exported as the disk's
  // reserve, for alerts).
  NodeCollector(const storage::Store* store, std::function<ClusterView()> cluster, int64_t start_unix_s,
                uint64_t min_free_bytes = 0)
      : store_(store), cluster_(std::move(cluster)), start_unix_s_(start_unix_s), min_free_bytes_(min_free_bytes) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const storage::Store* const store_;
  const std::function<ClusterView()> cluster_;
  const int64_t start_unix_s_;
  const uint64_t min_free_bytes_;
};

}  // namespace kvgo::metrics
