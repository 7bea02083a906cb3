#include "cluster_process.h"

#include <openssl/sha.h>

#include <cstdio>
#include <thread>

#include "absl/strings/escaping.h"
#include "common/kvspec.h"

namespace kvgo::testing {

using Clock = std::chrono::steady_clock;

std::pair<std::string, size_t> TableDigest(client::Client& c) {
  namespace kv = lynkdb::kvspec::v2;
  std::string all;
  size_t n = 0;
  std::string from;
  for (;;) {
    kv::ObjectReader r = client::NewRangeReader(from, "", 2000);
    kv::ObjectResult res;
    grpc::Status s = c.Query(r, &res);
    if (!s.ok() || (res.status() != kvspec::kStatusOK && res.status() != kvspec::kStatusNotFound)) {
      return {"error: " + s.error_message() + res.message(), n};
    }
    for (const auto& item : res.items()) {
      if (item.meta().key() == from) continue;
      all += item.meta().key() + "=" + client::ValueString(item) + "@" + std::to_string(item.meta().version()) + "\n";
      from = item.meta().key();
      n++;
    }
    if (!res.next() || res.items_size() == 0) break;
  }
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(all.data()), all.size(), d);
  return {absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(d), sizeof(d))), n};
}

std::string ClusterSecret(int i) { return "the-secret-key-of-server-0" + std::to_string(i + 1); }

ClusterProcess::ClusterProcess(const std::string& name, ClusterOptions options) {
  const int port = FreePort();
  const int n = options.nodes;
  for (int i = 0; i < n; i++) {
    const std::string host = "127.0.0." + std::to_string(i + 1);
    const std::string secret = options.own_secret.count(i) ? options.own_secret[i] : ClusterSecret(i);
    nodes_.push_back(std::make_unique<ServerProcess>(name + std::to_string(i + 1), host, port, secret));
    if (options.failpoints) nodes_.back()->UseFailpoints();
  }
  std::string timing = "heartbeat_ms = 100\nelection_timeout_ms = 1000\n";
  if (options.cluster_toml.find("heartbeat_ms") != std::string::npos) timing.clear();
  for (int i = 0; i < n; i++) {
    std::string conf = "[storage]\ndata_directory = \"" + nodes_[i]->prefix() + "/var/data-0" + std::to_string(i + 1) +
                       "\"\n\n[server]\nbind = \"" + nodes_[i]->addr() + "\"\nauth_secret_key = \"" +
                       nodes_[i]->secret() + "\"\nhttp_port = " + std::to_string(nodes_[i]->http_port()) + "\n" +
                       (options.server_toml.count(i) ? options.server_toml[i] + "\n" : std::string()) +
                       "\n[cluster]\n" + timing + options.cluster_toml + "\n";
    for (int j = 0; j < n; j++) {
      if (options.legacy_spelling) {
        conf += "\n[[cluster.main_nodes]]\naddr = \"" + nodes_[j]->addr() +
                "\"\n[cluster.main_nodes.access_key]\nid = \"00000000\"\nsecret = \"" + ClusterSecret(j) + "\"\n";
      } else {
        conf += "\n[[cluster.masters]]\naddr = \"" + nodes_[j]->addr() + "\"\nauth_secret_key = \"" + ClusterSecret(j) +
                "\"\n";
      }
    }
    nodes_[i]->WriteConfig(conf);
  }
}

bool ClusterProcess::StartAll() {
  for (auto& n : nodes_) n->Start();
  for (auto& n : nodes_) {
    if (!n->WaitReady()) {
      std::fprintf(stderr, "node %s did not start:\n%s\n", n->addr().c_str(), n->Log().c_str());
      return false;
    }
  }
  return true;
}

double ClusterProcess::Metric(int i, const std::string& name) {
  auto [code, body] = HttpGet(nodes_[i]->host(), nodes_[i]->http_port(), "/metrics");
  return code == 200 ? MetricValue(body, name) : -1;
}

int ClusterProcess::Leader(std::chrono::milliseconds timeout, int exclude) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (int i = 0; i < size(); i++) {
      if (i == exclude || !nodes_[i]->running()) continue;
      if (Metric(i, "kvgo_cluster_is_leader") == 1) return i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

bool ClusterProcess::WaitConverged(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    double lo = -1, hi = -1;
    bool all = true;
    for (int i = 0; i < size(); i++) {
      if (!nodes_[i]->running()) continue;
      const double v = Metric(i, "kvgo_cluster_applied_index");
      if (v < 0) all = false;
      lo = lo < 0 ? v : std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (all && lo == hi && lo > 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::vector<std::pair<std::string, size_t>> ClusterProcess::Digests(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::pair<std::string, size_t>> out;
  for (int i = 0; i < size(); i++) {
    if (!nodes_[i]->running()) {
      out.emplace_back("error: stopped", 0);
      continue;
    }
    auto c = nodes_[i]->NewClient();
    for (;;) {
      auto d = TableDigest(*c);
      if (d.first.rfind("error:", 0) != 0 || Clock::now() >= deadline) {
        out.push_back(std::move(d));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return out;
}

}  // namespace kvgo::testing
