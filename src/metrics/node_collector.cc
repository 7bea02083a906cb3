#include "metrics/node_collector.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kvgo::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const std::string& name, const std::string& help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void AddValue(MetricFamily* f, double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f->type == MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f->metric.push_back(std::move(m));
}

MetricFamily Gauge(const std::string& name, const std::string& help, double v) {
  MetricFamily f = Family(name, help, MetricType::Gauge);
  AddValue(&f, v);
  return f;
}

}  // namespace

std::vector<MetricFamily> NodeCollector::Collect() const {
  std::vector<MetricFamily> out;

  // LevelDB: files per level, and the compaction table of "leveldb.stats":
  // Level Files Size(MB) Time(sec) Read(MB) Write(MB)
  MetricFamily files = Family("kvgo_leveldb_files", "LevelDB table files per level", MetricType::Gauge);
  MetricFamily level_bytes = Family("kvgo_leveldb_level_bytes", "LevelDB table bytes per level", MetricType::Gauge);
  MetricFamily comp_time =
      Family("kvgo_leveldb_compaction_seconds_total", "Time spent compacting into each level", MetricType::Counter);
  MetricFamily comp_read = Family("kvgo_leveldb_compaction_read_bytes_total",
                                  "Bytes read by compactions into each level", MetricType::Counter);
  MetricFamily comp_write = Family("kvgo_leveldb_compaction_written_bytes_total",
                                   "Bytes written by compactions into each level", MetricType::Counter);
  for (int level = 0; level < 7; level++) {
    std::string v = store_->Property("leveldb.num-files-at-level" + std::to_string(level));
    AddValue(&files, v.empty() ? 0 : std::stod(v), {{"level", std::to_string(level)}});
  }
  std::istringstream stats(store_->Property("leveldb.stats"));
  std::string line;
  while (std::getline(stats, line)) {
    std::istringstream ls(line);
    int level;
    double nfiles, size_mb, secs, read_mb, write_mb;
    if (!(ls >> level >> nfiles >> size_mb >> secs >> read_mb >> write_mb)) continue;
    const std::vector<ClientMetric::Label> l = {{"level", std::to_string(level)}};
    AddValue(&level_bytes, size_mb * 1048576.0, l);
    AddValue(&comp_time, secs, l);
    AddValue(&comp_read, read_mb * 1048576.0, l);
    AddValue(&comp_write, write_mb * 1048576.0, l);
  }
  out.push_back(std::move(files));
  out.push_back(std::move(level_bytes));
  out.push_back(std::move(comp_time));
  out.push_back(std::move(comp_read));
  out.push_back(std::move(comp_write));
  const std::string mem = store_->Property("leveldb.approximate-memory-usage");
  out.push_back(
      Gauge("kvgo_leveldb_memory_bytes", "LevelDB memtable and cache memory", mem.empty() ? 0 : std::stod(mem)));
  out.push_back(Gauge("kvgo_block_cache_bytes", "Bytes held by the LevelDB block cache",
                      static_cast<double>(store_->BlockCacheUsage())));

  // Disk: the data directory's files, and its file system.
  const double disk = static_cast<double>(store_->DiskUsage());
  std::error_code ec;
  out.push_back(Gauge("kvgo_disk_bytes", "Bytes on disk of the data directory", disk));
  struct statvfs vfs;
  if (statvfs(store_->directory().c_str(), &vfs) == 0) {
    out.push_back(Gauge("kvgo_disk_free_bytes", "Free bytes of the data directory's file system",
                        static_cast<double>(vfs.f_bavail) * vfs.f_frsize));
    out.push_back(Gauge("kvgo_disk_total_bytes", "Size of the data directory's file system",
                        static_cast<double>(vfs.f_blocks) * vfs.f_frsize));
  }
  out.push_back(Gauge("kvgo_data_directory_ok",
                      "1 while the data directory is the one the server opened; 0 once it was deleted or replaced "
                      "(writes are then refused)",
                      store_->CheckDirectory().ok() ? 1 : 0));
  out.push_back(Gauge("kvgo_disk_reserved_bytes",
                      "[storage] min_free_bytes: writes are refused while the free space is below it (0 = no reserve)",
                      static_cast<double>(min_free_bytes_)));

  // Process.
  std::ifstream statm("/proc/self/statm");
  double pages = 0, rss = 0;
  if (statm >> pages >> rss) {
    out.push_back(Gauge("process_resident_memory_bytes", "Resident memory size in bytes", rss * sysconf(_SC_PAGESIZE)));
  }
  double fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    fds++;
  }
  out.push_back(Gauge("process_open_fds", "Open file descriptors", fds));
  out.push_back(Gauge("process_start_time_seconds", "Start time of the process (unix seconds)",
                      static_cast<double>(start_unix_s_)));

  // Replication view.
  const ClusterView cv = cluster_();
  out.push_back(Gauge("kvgo_cluster_members", "Members in the cluster config (1 = single node)",
                      static_cast<double>(cv.members)));
  out.push_back(Gauge("kvgo_cluster_is_leader", "1 if this node is the leader", cv.is_leader ? 1 : 0));
  out.push_back(Gauge("kvgo_cluster_leader_known", "1 if this node knows a leader", cv.leader_known ? 1 : 0));
  out.push_back(Gauge("kvgo_cluster_ballot_round", "Round of the highest ballot this node promised",
                      static_cast<double>(cv.ballot_round)));
  out.push_back(
      Gauge("kvgo_cluster_commit_index", "Highest log index known committed", static_cast<double>(cv.commit)));
  out.push_back(
      Gauge("kvgo_cluster_applied_index", "Highest log index applied to the store", static_cast<double>(cv.applied)));
  out.push_back(Gauge("kvgo_cluster_compacted_index", "Log entries up to here were dropped (snapshot boundary)",
                      static_cast<double>(cv.compacted)));
  out.push_back(Gauge("kvgo_cluster_apply_rules",
                      "Apply rules this node's proposals get: the oldest version of them among the members (on the "
                      "leader; a member not heard from counts at the highest rules applied so far)",
                      static_cast<double>(cv.apply_rules)));
  out.push_back(Gauge("kvgo_cluster_wal_bytes", "Bytes in the Paxos WAL's segment files (<data_directory>/paxos)",
                      static_cast<double>(cv.wal_bytes)));
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    MetricFamily f = Family(name, help, MetricType::Counter);
    AddValue(&f, static_cast<double>(v));
    out.push_back(std::move(f));
  };
  counter("kvgo_cluster_leader_changes_total", "Leader changes seen", cv.leader_changes);
  counter("kvgo_cluster_entries_skipped_total",
          "Log entries skipped because a leader change replaced the entry they were computed after",
          cv.entries_skipped);
  counter("kvgo_commands_applied_total", "Commands applied to the store (writes, table and key changes, purges)",
          cv.commands);
  counter("kvgo_cluster_proposals_forwarded_total", "Writes this node forwarded to the leader", cv.forwarded);
  counter("kvgo_cluster_forward_calls_total", "Calls that carried the forwarded writes to the leader (one per batch)",
          cv.forward_calls);
  counter("kvgo_cluster_snapshots_sent_total", "Snapshots streamed to lagging peers", cv.snapshots_sent);
  counter("kvgo_cluster_snapshots_received_total", "Snapshots installed from the leader", cv.snapshots_received);
  MetricFamily connected =
      Family("kvgo_cluster_peer_connected",
             "1 if this node has a working link to the peer (its message stream is up, or its channel is "
             "connected and the peer did not refuse it)",
             MetricType::Gauge);
  MetricFamily dropped =
      Family("kvgo_cluster_peer_messages_dropped_total",
             "Consensus messages to the peer dropped (queue full or peer unreachable)", MetricType::Counter);
  for (const auto& p : cv.peers) {
    AddValue(&connected, p.connected ? 1 : 0, {{"peer", p.addr}});
    AddValue(&dropped, static_cast<double>(p.dropped), {{"peer", p.addr}});
  }
  out.push_back(std::move(connected));
  out.push_back(std::move(dropped));
  {
    MetricFamily refused = Family("kvgo_peer_calls_refused_total",
                                  "Calls to the peer service refused by authentication, by reason (a client "
                                  "credential, a stranger, another cluster, or a master whose secrets differ)",
                                  MetricType::Counter);
    for (const auto& [reason, n] : cv.peer_calls_refused)
      AddValue(&refused, static_cast<double>(n), {{"reason", reason}});
    out.push_back(std::move(refused));
  }
  return out;
}

}  // namespace kvgo::metrics
