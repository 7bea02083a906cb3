#include "server/identity.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
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
