// ClusterProcess: N real kvgo-server processes (N <= 9) on 127.0.0.1 ...
// 127.0.0.N, one port, each with the seed README's cluster config (its own
// data directory, bind and secret; every master listed). Every process is
// stopped by its pid when the object goes (ServerProcess's destructor), also
// when a test fails.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "server_process.h"

namespace kvgo::testing {

// SHA-256 (hex) over every key, value and version of table main, read
// through `c` (a linearizable scan, paged), and the number of keys; on an
// error the first element starts with "error:".
std::pair<std::string, size_t> TableDigest(client::Client& c);

// The secret of node i (0-based), as in the seed README.
std::string ClusterSecret(int i);

struct ClusterOptions {
  int nodes = 3;
  // Extra lines for [cluster] (heartbeat_ms and election_timeout_ms are
  // 100 and 1000 unless given here).
  std::string cluster_toml;
  // Node index -> the [server] auth_secret_key it runs with, when it
  // should differ from what the others list for it.
  std::map<int, std::string> own_secret;
  bool legacy_spelling = false;  // [[cluster.main_nodes]] (kvgo-server 1.x)
  // Run kvgo-server-failpoints (ServerProcess::UseFailpoints) on every node.
  bool failpoints = false;
  // Node index -> TOML appended to its [server] section (subtables such as
  // [server.auth_tls_cert] too).
  std::map<int, std::string> server_toml;
};

class ClusterProcess {
 public:
  ClusterProcess(const std::string& name, ClusterOptions options = {});

  int size() const { return static_cast<int>(nodes_.size()); }
  ServerProcess& node(int i) { return *nodes_[i]; }

  // Starts every node; false (with the logs on stderr) if one does not
  // answer within 20 s.
  bool StartAll();
  // A sample of node i's /metrics (unlabelled), or -1.
  double Metric(int i, const std::string& name);
  // The index of a node that reports itself leader, waiting up to
  // `timeout`; -1 if none. Skips `exclude` and stopped nodes.
  int Leader(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000), int exclude = -1);
  // Waits until every running node applied as far as the furthest one.
  bool WaitConverged(std::chrono::milliseconds timeout);
  // TableDigest through each node (stopped nodes get "error: stopped").
  // A node that answers with an error (an election under way, say: the
  // scan is linearizable and needs a leader) is asked again until
  // `timeout`; only its last error is kept.
  std::vector<std::pair<std::string, size_t>> Digests(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

 private:
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

}  // namespace kvgo::testing
