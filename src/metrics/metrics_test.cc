#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "metrics/node_collector.h"
#include "storage/catalog.h"
#include "storage/committer.h"
#include "storage/state_machine.h"

namespace kvgo::metrics {
namespace {

double Value(const std::string& text, const std::string& series) {
  std::regex re("(^|\\n)" + std::regex_replace(series, std::regex(R"([{}\[\]().+*?^$|\\])"), R"(\$&)") +
                " ([0-9.e+-]+)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return -1;
  return std::stod(m[2]);
}

TEST(Metrics, RequestsByRpcAndStatus) {
  Metrics m;
  m.ObserveRequest(Rpc::kCommit, 1, 0.002, 100, 20);
  m.ObserveRequest(Rpc::kCommit, 1, 0.004, 100, 20);
  m.ObserveRequest(Rpc::kQuery, 3, 0.001, 10, 5);
  m.ObserveRequest(Rpc::kQuery, 99, 0.001, 10, 5);  // out of range -> "error"
  const std::string t = m.Serialize();
  EXPECT_EQ(Value(t, "kvgo_requests_total{rpc=\"Commit\",status=\"ok\"}"), 2);
  EXPECT_EQ(Value(t, "kvgo_requests_total{rpc=\"Query\",status=\"not_found\"}"), 1);
  EXPECT_EQ(Value(t, "kvgo_requests_total{rpc=\"Query\",status=\"error\"}"), 1);
  EXPECT_EQ(Value(t, "kvgo_request_bytes_total{rpc=\"Commit\"}"), 200);
  EXPECT_EQ(Value(t, "kvgo_request_duration_seconds_count{rpc=\"Commit\"}"), 2);
  EXPECT_NEAR(Value(t, "kvgo_request_duration_seconds_sum{rpc=\"Commit\"}"), 0.006, 1e-9);
  EXPECT_EQ(Value(t, "kvgo_build_info{version=\"" KVGO_VERSION "\"}"), 1);
}

TEST(Metrics, AuthReasonsAndReloads) {
  EXPECT_EQ(AuthFailureReason("no auth token found"), "missing_token");
  EXPECT_EQ(AuthFailureReason("sign denied : no AccessKey found"), "unknown_key");
  EXPECT_EQ(AuthFailureReason("sign denied"), "bad_signature");
  EXPECT_EQ(AuthFailureReason("invalid request time"), "expired");
  EXPECT_EQ(AuthFailureReason("invalid payload data, err x"), "malformed_token");
  EXPECT_EQ(AuthFailureReason("permission=sys/all not allow"), "permission");
  Metrics m;
  m.CountAuthFailure("sign denied");
  EXPECT_EQ(Value(m.Serialize(), "kvgo_config_last_reload_successful"), 1);
  m.CountConfigReload(false);
  m.ObserveGroup(8, 0.0005);
  const std::string t = m.Serialize();
  EXPECT_EQ(Value(t, "kvgo_config_last_reload_successful"), 0);
  EXPECT_EQ(Value(t, "kvgo_auth_failures_total{reason=\"bad_signature\"}"), 1);
  EXPECT_EQ(Value(t, "kvgo_auth_failures_total{reason=\"expired\"}"), 0);
  EXPECT_EQ(Value(t, "kvgo_config_reloads_total{result=\"error\"}"), 1);
  EXPECT_EQ(Value(t, "kvgo_group_commit_size_sum"), 8);
  EXPECT_EQ(Value(t, "kvgo_fsync_duration_seconds_count"), 1);
  m.CountConfigReload(true);
  EXPECT_EQ(Value(m.Serialize(), "kvgo_config_last_reload_successful"), 1);
}

TEST(NodeCollector, LevelDBDiskProcessAndCluster) {
  auto dir = std::filesystem::temp_directory_path() / ("kvgo-metrics-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  {
    storage::StoreOptions o;
    o.data_directory = dir.string();
    auto store = std::move(storage::Store::Open(o).value());
    auto sm = std::move(storage::StateMachine::Open(store.get()).value());
    storage::Catalog catalog;
    storage::Committer committer(store.get(), sm.get(), &catalog, nullptr);
    storage::pb::Command c;
    c.set_now_ms(1);
    c.mutable_table_set()->set_name("t123");
    ASSERT_TRUE(committer.Execute(c).ok());
    Metrics m;
    m.AddCollectable(std::make_shared<NodeCollector>(
        store.get(),
        [&committer] {
          ClusterView v;
          v.commands = committer.stats().commands;
          v.applied = v.commit = committer.stats().groups;
          return v;
        },
        1700000000, 216u << 20));
    const std::string t = m.Serialize();
    EXPECT_EQ(Value(t, "kvgo_disk_reserved_bytes"), 216u << 20);
    EXPECT_EQ(Value(t, "kvgo_leveldb_files{level=\"0\"}"), 0);
    EXPECT_GT(Value(t, "kvgo_disk_bytes"), 0);
    EXPECT_GT(Value(t, "kvgo_disk_free_bytes"), 0);
    EXPECT_GT(Value(t, "process_resident_memory_bytes"), 1e6);
    EXPECT_EQ(Value(t, "process_start_time_seconds"), 1700000000);
    EXPECT_EQ(Value(t, "kvgo_cluster_is_leader"), 1);
    EXPECT_EQ(Value(t, "kvgo_cluster_applied_index"), 1);
    EXPECT_EQ(Value(t, "kvgo_commands_applied_total"), 1);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvgo::metrics
