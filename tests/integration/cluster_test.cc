// Cluster mode with real processes: three kvgo-server binaries on
// 127.0.0.1, 127.0.0.2 and 127.0.0.3 with the seed README's 3-replica
// configs (data in temporary directories). Every process is stopped by its
// pid at the end, also on failure (ServerProcess's destructor).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster_process.h"
#include "common/kvspec.h"
#include "hauth.pb.h"

namespace kvgo::testing {
namespace {

namespace kv = lynkdb::kvspec::v2;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// The cluster tests' view of ClusterProcess: gtest assertions on start.
class Cluster : public ClusterProcess {
 public:
  explicit Cluster(const std::string& name, const std::string& cluster_toml = "",
                   std::map<int, std::string> own_secret = {}, bool legacy_spelling = false)
      : ClusterProcess(name, ClusterOptions{3, cluster_toml, std::move(own_secret), legacy_spelling, false, {}}) {}
  void StartAll() { ASSERT_TRUE(ClusterProcess::StartAll()); }
};

kv::ObjectResult Put(client::Client& c, const std::string& key, const std::string& value) {
  kv::ObjectResult r;
  grpc::Status s = c.Commit(client::NewWriter(key, value), &r);
  if (!s.ok()) r.set_status(0), r.set_message("rpc: " + s.error_message());
  return r;
}

kv::ObjectResult Get(client::Client& c, const std::string& key) {
  kv::ObjectResult r;
  grpc::Status s = c.Query(client::NewKeyReader(key), &r);
  if (!s.ok()) r.set_status(0), r.set_message("rpc: " + s.error_message());
  return r;
}

// Retries a write until it is OK or `timeout` ends (leader elections).
bool PutEventually(client::Client& c, const std::string& key, const std::string& value,
                   milliseconds timeout = milliseconds(15000)) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Put(c, key, value).status() == kvspec::kStatusOK) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

// Retries a read while the node answers status 5 (no leader, not the
// leader, cannot reach the leader: an election is going on or the node has
// not heard of its result yet), until `timeout` ends.
kv::ObjectResult GetDuringElection(client::Client& c, const std::string& key,
                                   milliseconds timeout = milliseconds(15000)) {
  const auto deadline = Clock::now() + timeout;
  kv::ObjectResult r = Get(c, key);
  while (r.status() == kvspec::kStatusServerError && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
    r = Get(c, key);
  }
  return r;
}

// How many peers node i's /metrics reports connected
// (kvgo_cluster_peer_connected{peer=...} 1), or -1 without an answer.
int PeersConnected(ClusterProcess& c, int i) {
  auto [code, body] = HttpGet(c.node(i).host(), c.node(i).http_port(), "/metrics");
  if (code != 200) return -1;
  int n = 0;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("kvgo_cluster_peer_connected{", 0) == 0 && line.size() > 2 && line.substr(line.size() - 2) == " 1") {
      n++;
    }
  }
  return n;
}

TEST(ClusterTest, SeedConfigsFormOneClusterAndEveryNodeServes) {
  Cluster c("form");
  c.StartAll();
  ASSERT_GE(c.Leader(), 0);
  auto n1 = c.node(0).NewClient();
  auto n2 = c.node(1).NewClient();
  auto n3 = c.node(2).NewClient();
  ASSERT_TRUE(PutEventually(*n1, "k1", "via node 1"));
  // Read through nodes 2 and 3 at once (no waiting): linearizable reads.
  for (auto* cl : {n2.get(), n3.get()}) {
    kv::ObjectResult r = Get(*cl, "k1");
    ASSERT_EQ(r.status(), kvspec::kStatusOK) << r.message();
    EXPECT_EQ(client::ValueString(r.items(0)), "via node 1");
  }
  // Every node takes writes (followers forward them) and sees the others'.
  for (int round = 0; round < 20; round++) {
    auto* w = round % 3 == 0 ? n1.get() : round % 3 == 1 ? n2.get() : n3.get();
    auto* rd = round % 3 == 0 ? n3.get() : round % 3 == 1 ? n1.get() : n2.get();
    const std::string v = "v" + std::to_string(round);
    ASSERT_EQ(Put(*w, "shared", v).status(), kvspec::kStatusOK);
    kv::ObjectResult r = Get(*rd, "shared");
    ASSERT_EQ(r.status(), kvspec::kStatusOK) << r.message();
    ASSERT_EQ(client::ValueString(r.items(0)), v) << "stale read in round " << round;
  }
  // BatchCommit readers are linearizable too: a batch [write, read] on a
  // follower reads its own write, and a read-only batch on another node
  // sees it at once.
  for (int round = 0; round < 10; round++) {
    const std::string v = "batch" + std::to_string(round);
    kv::BatchRequest req;
    *req.add_items()->mutable_writer() = client::NewWriter("bk", v);
    *req.add_items()->mutable_reader() = client::NewKeyReader("bk");
    kv::BatchResult br;
    ASSERT_TRUE(n2->BatchCommit(req, &br).ok());
    ASSERT_EQ(br.status(), kvspec::kStatusOK) << br.message();
    ASSERT_EQ(br.items_size(), 2);
    ASSERT_EQ(client::ValueString(br.items(1).items(0)), v);
    kv::BatchRequest ro;
    *ro.add_items()->mutable_reader() = client::NewKeyReader("bk");
    ASSERT_TRUE(n3->BatchCommit(ro, &br).ok());
    ASSERT_EQ(br.status(), kvspec::kStatusOK) << br.message();
    ASSERT_EQ(client::ValueString(br.items(0).items(0)), v) << "stale batch read in round " << round;
  }
  // Tables and access keys are cluster-wide.
  kv::SysCmdRequest req;
  req.set_method("TableSet");
  kv::TableSetRequest ts;
  ts.set_name("cluster_tbl");
  req.set_body(ts.SerializeAsString());
  kv::ObjectResult res;
  ASSERT_TRUE(n2->SysCmd(req, &res).ok());
  ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  kv::ObjectWriter w = client::NewWriter("in-t2", "x");
  w.set_table_name("cluster_tbl");
  ASSERT_TRUE(n3->Commit(w, &res).ok());
  EXPECT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  // Access keys are replicated: made through node 1, listed on node 3 at
  // once (TableList and AccessKeyList are linearizable reads).
  hooto::hauth::v1::AccessKey ak;
  ak.add_roles("client");
  auto* scope = ak.add_scopes();
  scope->set_name("kvgo/table");
  scope->set_value("cluster_tbl");
  kv::SysCmdRequest aks;
  aks.set_method("AccessKeySet");
  aks.set_body(ak.SerializeAsString());
  ASSERT_TRUE(n1->SysCmd(aks, &res).ok());
  ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  kv::SysCmdRequest akl;
  akl.set_method("AccessKeyList");
  ASSERT_TRUE(n3->SysCmd(akl, &res).ok());
  ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  int made = 0;
  for (const auto& it : res.items()) made += it.data().value().find("\"00000000\"") == std::string::npos;
  EXPECT_EQ(made, 1) << "the new key, besides the root keys";
  kv::SysCmdRequest tl;
  tl.set_method("TableList");
  ASSERT_TRUE(n3->SysCmd(tl, &res).ok());
  bool listed = false;
  for (const auto& it : res.items()) listed = listed || it.data().value().find("cluster_tbl") != std::string::npos;
  EXPECT_TRUE(listed);
  // SysStatus tells the role and the leader.
  kv::SysCmdRequest st;
  st.set_method("SysStatus");
  ASSERT_TRUE(n2->SysCmd(st, &res).ok());
  ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  ASSERT_EQ(res.items_size(), 1);
  EXPECT_NE(res.items(0).data().value().find("\"leader\":\"127.0.0."), std::string::npos)
      << res.items(0).data().value();
  // One client config (node 1's secret) works against every node.
  auto other = c.node(2).NewClient(ClusterSecret(0));
  EXPECT_EQ(Get(*other, "k1").status(), kvspec::kStatusOK);
  // Every node reports a link to both peers, the two followers to each
  // other too (the alert KvgoPeerUnreachable fires on a 0).
  const auto deadline = Clock::now() + seconds(10);
  auto all_linked = [&] {
    for (int i = 0; i < 3; i++) {
      if (PeersConnected(c, i) != 2) return false;
    }
    return true;
  };
  while (Clock::now() < deadline && !all_linked()) std::this_thread::sleep_for(milliseconds(100));
  for (int i = 0; i < 3; i++) EXPECT_EQ(PeersConnected(c, i), 2) << "node " << i + 1;
}

// A follower forwards the writes that reach it together in one call per
// driver iteration (ForwardBatch), and each client gets its own answer.
TEST(ClusterTest, ConcurrentWritesThroughAFollowerAreForwardedInBatches) {
  Cluster c("fwdbatch");
  c.StartAll();
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % c.size();
  constexpr int kThreads = 24;
  constexpr int kPerThread = 25;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      auto cl = c.node(follower).NewClient();
      for (int i = 0; i < kPerThread; i++) {
        const std::string k = "fb-" + std::to_string(t) + "-" + std::to_string(i);
        kv::ObjectResult r = Put(*cl, k, "value of " + k);
        if (r.status() != kvspec::kStatusOK) failed++;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failed.load(), 0);
  // Every write landed, with its own value, as its client was told.
  auto via_leader = c.node(leader).NewClient();
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < kPerThread; i++) {
      const std::string k = "fb-" + std::to_string(t) + "-" + std::to_string(i);
      kv::ObjectResult r = Get(*via_leader, k);
      ASSERT_EQ(r.status(), kvspec::kStatusOK) << k << ": " << r.message();
      ASSERT_EQ(client::ValueString(r.items(0)), "value of " + k);
    }
  }
  const double forwarded = c.Metric(follower, "kvgo_cluster_proposals_forwarded_total");
  const double calls = c.Metric(follower, "kvgo_cluster_forward_calls_total");
  EXPECT_GE(forwarded, kThreads * kPerThread);
  EXPECT_GT(calls, 0);
  EXPECT_LT(calls, forwarded) << "no two concurrent writes shared a forward call";
}

TEST(ClusterTest, LegacyMainNodesSpellingFormsTheSameCluster) {
  Cluster c("legacy", "", {}, /*legacy_spelling=*/true);
  c.StartAll();
  ASSERT_GE(c.Leader(), 0);
  auto n3 = c.node(2).NewClient();
  ASSERT_TRUE(PutEventually(*n3, "legacy", "yes"));
  auto n1 = c.node(0).NewClient();
  // Node 1 may not know the leader yet (elected between the two calls).
  kv::ObjectResult r = GetDuringElection(*n1, "legacy");
  ASSERT_EQ(r.status(), kvspec::kStatusOK) << r.message();
  EXPECT_EQ(client::ValueString(r.items(0)), "yes");
}

TEST(ClusterTest, KillingTheLeaderUnderLoadLosesNoAcknowledgedWrite) {
  Cluster c("kill");
  c.StartAll();
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);

  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> last_ok_ns{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; t++) {
    writers.emplace_back([&, t] {
      // Each writer talks to a node other than the leader, so it survives.
      std::vector<std::unique_ptr<client::Client>> clients;
      for (int i = 0; i < 3; i++) {
        if (i != leader) clients.push_back(c.node(i).NewClient());
      }
      for (int n = 0; !stop.load(); n++) {
        const std::string key = "w" + std::to_string(t) + "-" + std::to_string(n);
        if (Put(*clients[n % clients.size()], key, key).status() == kvspec::kStatusOK) {
          std::lock_guard lock(mu);
          acked.push_back(key);
          last_ok_ns = Clock::now().time_since_epoch().count();
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(1500));
  const size_t before = [&] {
    std::lock_guard lock(mu);
    return acked.size();
  }();
  ASSERT_GT(before, 0u);
  const auto killed_at = Clock::now();
  ASSERT_EQ(kill(c.node(leader).pid(), SIGKILL), 0);
  ASSERT_EQ(c.node(leader).WaitExit(milliseconds(5000)), 128 + SIGKILL);
  // Writes resume within the election bound (3 s by default; the clients'
  // own retry adds a little).
  const auto deadline = killed_at + milliseconds(6000);
  while (Clock::now() < deadline &&
         last_ok_ns.load() <= killed_at.time_since_epoch().count() + milliseconds(50).count() * 1000000) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const double resumed_s =
      std::chrono::duration<double>(Clock::time_point(Clock::duration(last_ok_ns.load())) - killed_at).count();
  std::printf("writes resumed %.2f s after the leader was killed\n", resumed_s);
  EXPECT_LT(resumed_s, 4.0);
  std::this_thread::sleep_for(milliseconds(1000));
  stop = true;
  for (auto& w : writers) w.join();
  ASSERT_GT(acked.size(), before);

  // The killed node comes back and catches up; every acknowledged write is
  // on every node.
  c.node(leader).Start();
  ASSERT_TRUE(c.node(leader).WaitReady()) << c.node(leader).Log();
  for (int i = 0; i < 3; i++) {
    auto cl = c.node(i).NewClient();
    size_t missing = 0;
    for (const auto& key : acked) {
      kv::ObjectResult r = Get(*cl, key);
      for (int attempt = 0; attempt < 100 && r.status() == kvspec::kStatusServerError; attempt++) {
        std::this_thread::sleep_for(milliseconds(50));  // e.g. still electing
        r = Get(*cl, key);
      }
      if (r.status() != kvspec::kStatusOK || client::ValueString(r.items(0)) != key) missing++;
    }
    EXPECT_EQ(missing, 0u) << "node " << i + 1 << " lacks acknowledged writes";
  }
}

TEST(ClusterTest, LaggingFollowerCatchesUpBySnapshotAndAllNodesEndIdentical) {
  Cluster c("snap", "log_keep_entries = 100\n");
  c.StartAll();
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  ASSERT_EQ(c.node(follower).Stop(SIGTERM), 0);

  // 100,000 keys in batches of 500 (one log entry each): far more entries
  // than the log keeps.
  auto cl = c.node(leader).NewClient();
  const std::string value(64, 'v');
  for (int b = 0; b < 200; b++) {
    kv::BatchRequest req;
    for (int i = 0; i < 500; i++) {
      char key[32];
      std::snprintf(key, sizeof(key), "bulk-%06d", b * 500 + i);
      *req.add_items()->mutable_writer() = client::NewWriter(key, value + key);
    }
    kv::BatchResult res;
    ASSERT_TRUE(cl->BatchCommit(req, &res).ok());
    ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
  }
  for (int i = 0; i < 300; i++) ASSERT_EQ(Put(*cl, "tail-" + std::to_string(i), "t").status(), kvspec::kStatusOK);

  c.node(follower).Start();
  ASSERT_TRUE(c.node(follower).WaitReady()) << c.node(follower).Log();
  const auto deadline = Clock::now() + seconds(90);
  while (Clock::now() < deadline &&
         c.Metric(follower, "kvgo_cluster_applied_index") < c.Metric(leader, "kvgo_cluster_applied_index")) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GE(c.Metric(follower, "kvgo_cluster_applied_index"), c.Metric(leader, "kvgo_cluster_applied_index"));
  EXPECT_GE(c.Metric(follower, "kvgo_cluster_snapshots_received_total"), 1) << c.node(follower).Log();

  auto compare = [&](size_t want) {
    const auto digests = c.Digests();
    for (int i = 0; i < 3; i++) {
      EXPECT_EQ(digests[i].second, want) << "node " << i + 1 << ": " << digests[i].first;
      EXPECT_EQ(digests[i].first, digests[0].first) << "node " << i + 1 << " differs";
    }
  };
  compare(100000u + 300u);
  // The log lives in the Paxos WAL (about 10 MB of entries went through it).
  EXPECT_GT(c.Metric(leader, "kvgo_cluster_wal_bytes"), 1e6);

  // A node whose data directory is wiped is rebuilt from its peers.
  const int wiped = (leader + 2) % 3;
  ASSERT_EQ(c.node(wiped).Stop(SIGTERM), 0);
  std::filesystem::remove_all(c.node(wiped).prefix() + "/var");
  for (int i = 0; i < 50; i++) ASSERT_TRUE(PutEventually(*cl, "after-wipe-" + std::to_string(i), "w"));
  c.node(wiped).Start();
  ASSERT_TRUE(c.node(wiped).WaitReady()) << c.node(wiped).Log();
  const auto deadline2 = Clock::now() + seconds(90);
  while (Clock::now() < deadline2 &&
         c.Metric(wiped, "kvgo_cluster_applied_index") < c.Metric(leader, "kvgo_cluster_applied_index")) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_GE(c.Metric(wiped, "kvgo_cluster_snapshots_received_total"), 1) << c.node(wiped).Log();
  compare(100000u + 300u + 50u);

  // Writes after the installs go through the log on every node: the
  // installed nodes took the apply head of precomputed entries with the
  // snapshot (else they would skip these, docs/replication.md).
  for (int i = 0; i < 20; i++) ASSERT_TRUE(PutEventually(*cl, "after-install-" + std::to_string(i), "a"));
  const auto deadline3 = Clock::now() + seconds(30);
  auto behind = [&] {
    for (int i = 0; i < 3; i++) {
      if (c.Metric(i, "kvgo_cluster_applied_index") < c.Metric(leader, "kvgo_cluster_applied_index")) return true;
    }
    return false;
  };
  while (Clock::now() < deadline3 && behind()) std::this_thread::sleep_for(milliseconds(100));
  compare(100000u + 300u + 50u + 20u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(c.Metric(i, "kvgo_cluster_entries_skipped_total"), 0) << "node " << i + 1;
}

TEST(ClusterTest, IsolatedNodesServeNoStaleReadAndAcceptNoWrite) {
  Cluster c("iso");
  c.StartAll();
  int leader = c.Leader();
  ASSERT_GE(leader, 0);
  auto old = c.node(leader).NewClient();
  ASSERT_TRUE(PutEventually(*old, "k", "v1"));

  // Pause the leader; the others elect a new one and take a newer value.
  c.node(leader).Signal(SIGSTOP);
  const int next = c.Leader(milliseconds(15000), leader);
  ASSERT_GE(next, 0);
  auto fresh = c.node(next).NewClient();
  ASSERT_TRUE(PutEventually(*fresh, "k", "v2"));
  // Resume the old leader and read through it at once: never v1.
  c.node(leader).Signal(SIGCONT);
  int answered = 0;
  const auto until = Clock::now() + milliseconds(1500);
  while (Clock::now() < until) {
    kv::ObjectResult r = Get(*old, "k");
    if (r.status() == kvspec::kStatusOK) {
      ASSERT_EQ(client::ValueString(r.items(0)), "v2") << "stale read from the deposed leader";
      answered++;
    }
  }
  EXPECT_GT(answered, 0) << "the resumed node never served";

  // Now isolate one node by pausing the two others: it must refuse writes
  // and linearizable reads (errors, within the client's timeout).
  leader = c.Leader();
  ASSERT_GE(leader, 0);
  const int lone = leader;  // the hardest case: the node that holds the lease
  for (int i = 0; i < 3; i++) {
    if (i != lone) c.node(i).Signal(SIGSTOP);
  }
  auto lc = c.node(lone).NewClient();
  EXPECT_NE(Put(*lc, "k", "v3").status(), kvspec::kStatusOK);
  std::this_thread::sleep_for(milliseconds(2500));  // past any lease
  EXPECT_NE(Get(*lc, "k").status(), kvspec::kStatusOK) << "read served without a majority";
  EXPECT_NE(Put(*lc, "k", "v4").status(), kvspec::kStatusOK);
  for (int i = 0; i < 3; i++) {
    if (i != lone) c.node(i).Signal(SIGCONT);
  }
  ASSERT_TRUE(PutEventually(*lc, "k", "v5"));
  for (int i = 0; i < 3; i++) {
    auto n = c.node(i).NewClient();
    kv::ObjectResult r = Get(*n, "k");
    ASSERT_EQ(r.status(), kvspec::kStatusOK) << r.message();
    EXPECT_EQ(client::ValueString(r.items(0)), "v5");
  }
}

TEST(ClusterTest, PeerWithAWrongSecretIsRefused) {
  // Node 3 runs with a secret that differs from the one nodes 1 and 2 list
  // for it: they refuse its messages and its forwarded writes.
  Cluster c("secret", "", {{2, "an-impostor-secret-0123456789"}});
  c.StartAll();
  auto n1 = c.node(0).NewClient();
  ASSERT_TRUE(PutEventually(*n1, "k", "v")) << "node 1:\n"
                                            << c.node(0).Log() << "\nnode 2:\n"
                                            << c.node(1).Log() << "\nnode 3:\n"
                                            << c.node(2).Log();
  auto n3 = c.node(2).NewClient();
  for (int i = 0; i < 2; i++) EXPECT_NE(Put(*n3, "k3", "x").status(), kvspec::kStatusOK);
  const auto deadline = Clock::now() + seconds(10);
  // Named by its master address (every connection comes from 127.0.0.1 on
  // one host), in words that read right in either node's log.
  const std::string refused = "wrong peer key: " + c.node(2).addr() + " signs with a key made from other secrets";
  auto logged = [&] {
    return c.node(0).Log().find(refused) != std::string::npos || c.node(1).Log().find(refused) != std::string::npos;
  };
  while (Clock::now() < deadline && !logged()) std::this_thread::sleep_for(milliseconds(50));
  EXPECT_TRUE(logged()) << c.node(0).Log();
  // The refused node shows a peer it has no working link to.
  while (Clock::now() < deadline && PeersConnected(c, 2) == 2) std::this_thread::sleep_for(milliseconds(50));
  EXPECT_LT(PeersConnected(c, 2), 2);
  EXPECT_EQ(c.Leader(milliseconds(1000), 2) >= 0, true);
}

}  // namespace
}  // namespace kvgo::testing
