#include "server/identity.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/log_store.h"
#include "replication/transport.h"
#include "storage.pb.h"

namespace kvgo::server {

namespace {

std::string Describe(const storage::pb::NodeIdentity& id) {
  return id.cluster() ? absl::StrCat("master ", id.node(), " of cluster ", absl::Hex(id.cluster_id(), absl::kZeroPad16))
                      : "a single node";
}

}  // namespace

Status CheckIdentity(storage::Store* store, const Config& config, bool reset) {
  storage::pb::NodeIdentity want;
  want.set_cluster(config.ClusterMode());
  want.set_node(config.bind);
  if (want.cluster()) {
    std::vector<std::string> addrs;
    for (const auto& m : config.masters) addrs.push_back(m.addr);
    std::sort(addrs.begin(), addrs.end());
    for (const auto& a : addrs) want.add_members(a);
    want.set_cluster_id(replication::ClusterIdOf(addrs));
  }
  const std::string key = replication::PaxosLogStore::IdentityKey();
  std::string raw;
  Status s = store->Get(key, &raw);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  storage::pb::NodeIdentity had;
  const bool known = s.ok() && had.ParseFromString(raw);
  if (known && !reset && had.cluster() != want.cluster()) {
    const std::string dir = store->directory();
    if (had.cluster()) {
      return absl::FailedPreconditionError(
          "the data directory " + dir + " holds the data of " + Describe(had) +
          ", and this config runs it as a single node, whose writes the cluster would never see. Start it with "
          "its cluster config ([[cluster.masters]]); to run this data as a single node on purpose (its cluster "
          "is gone), start once with --reset-identity");
    }
    return absl::FailedPreconditionError(
        "the data directory " + dir +
        " holds a single node's data, and this config makes it a cluster master: its data would not be the "
        "cluster's. Start masters from empty data directories (or a copy of a member's); to make this node a "
        "master anyway, start once with --reset-identity");
  }
  if (known && !reset && had.cluster() && had.cluster_id() != want.cluster_id()) {
    // The same cluster with members replaced keeps a majority of those it
    // had; another cluster's data does not.
    size_t kept = 0;
    for (const auto& m : had.members()) {
      kept += std::count(want.members().begin(), want.members().end(), m);
    }
    if (kept < static_cast<size_t>(had.members_size()) / 2 + 1) {
      return absl::FailedPreconditionError(
          "the data directory " + store->directory() + " holds the data of " + Describe(had) + " (masters " +
          absl::StrJoin(had.members(), ", ") + "), and this config's masters (" + absl::StrJoin(want.members(), ", ") +
          ") keep no majority of them: it is another cluster's data. Start it with its own cluster's config; to "
          "make it a master of this cluster anyway, start once with --reset-identity");
    }
  }
  if (known && !reset && had.SerializeAsString() == want.SerializeAsString()) return absl::OkStatus();
  if (known && !reset) {
    spdlog::info("data directory {}: was {}, now {}", store->directory(), Describe(had), Describe(want));
  } else if (known) {
    spdlog::warn("--reset-identity: data directory {} was {}, now {}", store->directory(), Describe(had),
                 Describe(want));
  }
  leveldb::WriteBatch b;
  b.Put(key, want.SerializeAsString());
  return store->WriteSync(&b);
}

}  // namespace kvgo::server
