// Hostile input against the seed's 3-node cluster (real processes on
// 127.0.0.1-3, stopped by pid at the end, also on failure).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>
#include <vector>

#include "cluster_process.h"
#include "common/kvspec.h"
#include "common/limits.h"
#include "hostile.h"

namespace kvgo::testing {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Defect: a Commit just under the 12 MiB message limit was accepted by the
// leader, but the Accept carrying it exceeded the followers' limit: the
// leader retried it forever and no later write completed.
TEST(HostileCluster, NoLegalWriteStopsTheCluster) {
  ClusterProcess cluster("hc-size");
  ASSERT_TRUE(cluster.StartAll());
  const int l = cluster.Leader();
  ASSERT_GE(l, 0);
  const int f = (l + 1) % 3;
  auto leader = cluster.node(l).NewClient();
  auto follower = cluster.node(f).NewClient();

  // The largest write the server takes, through the leader and through a
  // follower (which forwards it): stored, and readable on every node.
  EXPECT_EQ(Send(*leader, WriterOfSize("big-l", limits::kMaxWriterBytes)).status(), kvspec::kStatusOK);
  EXPECT_EQ(Send(*follower, WriterOfSize("big-f", limits::kMaxWriterBytes)).status(), kvspec::kStatusOK);

  // Just under the message limit: refused in-band, nothing stored.
  const kv::ObjectResult r = Send(*leader, WriterOfSize("too-big", kvspec::kMaxMessageBytes - 200));
  EXPECT_EQ(r.status(), kvspec::kStatusClientError) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("Write Too Large"));

  // Above it, to a node whose port takes larger peer messages: refused by
  // the public service as gRPC itself would.
  RawClient raw(cluster.node(f).addr(), kvspec::kRootKeyId, cluster.node(f).secret());
  kv::ObjectResult out;
  const grpc::Status st =
      raw.stub()->Commit(raw.Context().get(), WriterOfSize("huge", kvspec::kMaxMessageBytes + 4096), &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();

  // Six 3 MiB writes at once: the leader proposes them in one round, and
  // its Accepts split them under the peer message limit.
  std::vector<std::thread> writers;
  std::vector<uint64_t> status(6);
  for (int i = 0; i < 6; i++) {
    writers.emplace_back([&, i] {
      auto c = cluster.node(l).NewClient();
      status[i] = Send(*c, WriterOfSize("mid-" + std::to_string(i), 3 << 20)).status();
    });
  }
  for (auto& t : writers) t.join();
  for (int i = 0; i < 6; i++) EXPECT_EQ(status[i], kvspec::kStatusOK) << "mid-" << i;

  // Writes go on through every node, and every node serves every value.
  for (int i = 0; i < 3; i++) {
    auto c = cluster.node(i).NewClient();
    EXPECT_EQ(Put(*c, "after-" + std::to_string(i), "x").status(), kvspec::kStatusOK) << "node " << i;
    for (const std::string key : {"big-l", "big-f", "mid-0", "mid-5"}) {
      const kv::ObjectResult g = Get(*c, key);
      EXPECT_EQ(g.status(), kvspec::kStatusOK) << key << " on node " << i << ": " << g.message();
    }
    EXPECT_EQ(Get(*c, "too-big").status(), kvspec::kStatusNotFound);
  }
  // A leader that replicated all this stops promptly.
  EXPECT_EQ(cluster.node(l).Stop(SIGTERM, seconds(10)), 0);
}

}  // namespace
}  // namespace kvgo::testing
