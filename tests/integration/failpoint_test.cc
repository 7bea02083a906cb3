// Crashes and stalls at named points inside the server (common/failpoint.h),
// with real processes of kvgo-server-failpoints: a single node, and three
// nodes on 127.0.0.1-3. After each crash the node is restarted disarmed
// and every acknowledged write must be there, on every node, and the
// nodes' tables must be identical. Every process is stopped by its pid at
// the end, also on failure (ServerProcess's destructor).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <regex>
#include <thread>

#include "cluster_process.h"
#include "common/kvspec.h"
#include "storage/state_machine.h"

namespace kvgo::testing {
namespace {

namespace kv = lynkdb::kvspec::v2;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool PutOk(client::Client& c, const std::string& key, const std::string& value) {
  kv::ObjectResult r;
  return c.Commit(client::NewWriter(key, value), &r).ok() && r.status() == kvspec::kStatusOK;
}

// Writers that put unique keys (value = key) through `nodes` until Stop(),
// and remember which were acknowledged.
class Load {
 public:
  Load(const std::string& prefix, std::vector<ServerProcess*> nodes, int threads = 4) {
    for (int t = 0; t < threads; t++) {
      threads_.emplace_back([this, prefix, nodes, t] {
        std::vector<std::unique_ptr<client::Client>> clients;
        for (auto* n : nodes) clients.push_back(n->NewClient());
        for (int i = 0; !stop_.load(); i++) {
          const std::string key = prefix + std::to_string(t) + "-" + std::to_string(i);
          if (PutOk(*clients[i % clients.size()], key, key)) {
            std::lock_guard lock(mu_);
            acked_.push_back(key);
          } else {
            std::this_thread::sleep_for(milliseconds(20));
          }
        }
      });
    }
  }
  ~Load() { Stop(); }
  size_t acked() {
    std::lock_guard lock(mu_);
    return acked_.size();
  }
  // Waits until `n` more writes than now were acknowledged.
  bool WaitMore(size_t n, milliseconds timeout = milliseconds(20000)) {
    const size_t want = acked() + n;
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (acked() >= want) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
  std::vector<std::string> Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    std::lock_guard lock(mu_);
    return acked_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> acked_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// How many of `keys` (value = key) `node` does not return.
size_t Missing(ServerProcess& node, const std::vector<std::string>& keys) {
  auto c = node.NewClient();
  size_t missing = 0;
  for (const auto& key : keys) {
    kv::ObjectResult r;
    bool ok = false;
    for (int attempt = 0; attempt < 100 && !ok; attempt++) {
      r.Clear();
      ok = c->Query(client::NewKeyReader(key), &r).ok() && r.status() != kvspec::kStatusServerError;
      if (!ok) std::this_thread::sleep_for(milliseconds(50));  // e.g. still electing
    }
    if (!ok || r.status() != kvspec::kStatusOK || client::ValueString(r.items(0)) != key) missing++;
  }
  return missing;
}

// Waits for `node` to die from its armed crash failpoint `name`.
void ExpectCrashAt(ServerProcess& node, const std::string& name, milliseconds timeout = milliseconds(20000)) {
  ASSERT_EQ(node.WaitExit(timeout), 128 + SIGKILL) << "the failpoint " << name << " did not fire\n" << node.Log();
  EXPECT_NE(node.Log().find("failpoint " + name + ": crash"), std::string::npos) << node.Log();
}

// Disarms every failpoint of `node` and starts it again.
void RestartDisarmed(ServerProcess& node) {
  node.ArmFailpoints("");
  node.Start();
  ASSERT_TRUE(node.WaitReady()) << node.Log();
}

void ExpectIdentical(ClusterProcess& c) {
  ASSERT_TRUE(c.WaitConverged(milliseconds(60000)));
  const auto digests = c.Digests();
  for (int i = 0; i < c.size(); i++) {
    EXPECT_EQ(digests[i].first.rfind("error:", 0), std::string::npos) << "node " << i + 1 << ": " << digests[i].first;
    EXPECT_EQ(digests[i].first, digests[0].first) << "node " << i + 1 << " differs (" << digests[i].second << " keys)";
  }
}

// A single node crashes just before and just after the synced write of a
// group commit, and while LevelDB writes a table file (memtable flush):
// every acknowledged write survives.
TEST(Failpoints, SingleNodeCrashesAroundGroupCommitAndTableWrites) {
  for (const std::string fp : {"commit.persist.before", "commit.persist.after", "leveldb.table.write"}) {
    SCOPED_TRACE(fp);
    ServerProcess s("fp-single");
    s.WriteConfig(s.DefaultConfig() + "\n[performance]\nwrite_buffer_size = 1\n");  // frequent flushes
    s.UseFailpoints();
    s.Start();
    ASSERT_TRUE(s.WaitReady()) << s.Log();
    Load load("k-", {&s});
    ASSERT_TRUE(load.WaitMore(200));
    s.ArmFailpoints(fp + (fp == "leveldb.table.write" ? "=crash" : "=crash@20"));
    ExpectCrashAt(s, fp);
    auto acked = load.Stop();
    ASSERT_NO_FATAL_FAILURE(RestartDisarmed(s));
    EXPECT_EQ(Missing(s, acked), 0u) << "of " << acked.size() << " acknowledged writes";
    std::printf("%s: crashed after %zu acknowledged writes, all present after restart\n", fp.c_str(), acked.size());
  }
}

// How many bytes the power loss that killed `node` dropped (its log line
// "failpoint NAME: power loss, N bytes not synced were dropped ..."), or -1.
long long BytesDropped(ServerProcess& node) {
  const std::string log = node.Log();
  const std::string mark = ": power loss, ";
  const size_t at = log.rfind(mark);
  if (at == std::string::npos) return -1;
  return std::atoll(log.c_str() + at + mark.size());
}

// A power loss (common/failpoint.h: every file cut back to what was last
// synced) just before a group commit's fsync (the group's record is in
// LevelDB's log, not synced), and while LevelDB writes a table file (the
// 60th append, 2 per 4 KiB block, tables not compressed: past LevelDB's
// 64 KiB write buffer, so table data is in the file, not synced): the
// writes of the group that was not synced yet are lost, none that was
// acknowledged.
TEST(Failpoints, SingleNodePowerLossKeepsEveryAcknowledgedWrite) {
  for (const std::string fp : {"disk.fsync=powerloss@40", "leveldb.table.write=powerloss@60"}) {
    SCOPED_TRACE(fp);
    ServerProcess s("fp-power");
    s.WriteConfig(s.DefaultConfig() +
                  "\n[performance]\nwrite_buffer_size = 1\n"  // frequent flushes
                  "\n[feature]\ntable_compress_name = \"none\"\n");
    s.UseFailpoints();
    s.Start();
    ASSERT_TRUE(s.WaitReady()) << s.Log();
    Load load("p-", {&s});
    ASSERT_TRUE(load.WaitMore(200));
    s.ArmFailpoints(fp);
    ExpectCrashAt(s, fp.substr(0, fp.find('=')));
    auto acked = load.Stop();
    // Something that was written but not synced was lost (else this test
    // would prove nothing about power loss): a table file's data in the
    // table case.
    EXPECT_GT(BytesDropped(s), 0) << s.Log();
    if (fp.rfind("leveldb", 0) == 0) {
      EXPECT_TRUE(std::regex_search(s.Log(), std::regex("power loss cut [^ ]*\\.ldb from [1-9]"))) << s.Log();
    }
    ASSERT_NO_FATAL_FAILURE(RestartDisarmed(s));
    EXPECT_EQ(Missing(s, acked), 0u) << "of " << acked.size() << " acknowledged writes";
    std::printf("%s: %lld bytes not synced dropped after %zu acknowledged writes\n", fp.c_str(), BytesDropped(s),
                acked.size());
  }
}

// Three nodes; a power loss hits a follower and then the leader right
// after they applied chosen entries (written to LevelDB without a sync:
// docs/replication.md, "What is synced"), and before an fsync of the Paxos
// WAL or LevelDB. A node that lost its applied data applies the entries
// again from its WAL; no acknowledged write is lost and the replicas end
// identical.
TEST(Failpoints, ClusterPowerLossLosesNoChosenEntry) {
  ClusterProcess c("fp-power", ClusterOptions{3, "", {}, false, true, {}});
  ASSERT_TRUE(c.StartAll());
  std::vector<std::string> acked;
  struct Case {
    bool leader;
    std::string fp;
  };
  for (const Case& k :
       {Case{false, "apply.after"}, Case{true, "apply.after"}, Case{false, "disk.fsync"}, Case{true, "disk.fsync"}}) {
    SCOPED_TRACE(std::string(k.leader ? "leader " : "follower ") + k.fp);
    const int leader = c.Leader();
    ASSERT_GE(leader, 0);
    const int victim = k.leader ? leader : (leader + 1) % 3;
    std::vector<ServerProcess*> others;
    for (int i = 0; i < 3; i++) {
      if (i != victim) others.push_back(&c.node(i));
    }
    Load load(k.fp + (k.leader ? "-l-" : "-f-"), others);
    ASSERT_TRUE(load.WaitMore(100));
    c.node(victim).ArmFailpoints(k.fp + "=powerloss@20");
    ExpectCrashAt(c.node(victim), k.fp);
    EXPECT_GT(BytesDropped(c.node(victim)), 0) << c.node(victim).Log();
    std::printf("%s on the %s: %lld bytes not synced dropped\n", k.fp.c_str(), k.leader ? "leader" : "follower",
                BytesDropped(c.node(victim)));
    EXPECT_TRUE(load.WaitMore(50)) << "writes did not resume";
    ASSERT_NO_FATAL_FAILURE(RestartDisarmed(c.node(victim)));
    EXPECT_TRUE(load.WaitMore(50));
    auto mine = load.Stop();
    acked.insert(acked.end(), mine.begin(), mine.end());
  }
  ExpectIdentical(c);
  for (int i = 0; i < 3; i++) EXPECT_EQ(Missing(c.node(i), acked), 0u) << "node " << i + 1;
}

// A slow disk (every fsync stalled 1 s): writes wait for it, reads do not.
TEST(Failpoints, SlowDiskStallsWritesButNotReads) {
  ServerProcess s("fp-slow");
  s.UseFailpoints();
  s.Start();
  ASSERT_TRUE(s.WaitReady()) << s.Log();
  auto c = s.NewClient();
  ASSERT_TRUE(PutOk(*c, "slow-a", "a"));
  s.ArmFailpoints("disk.fsync=sleep:1000");
  std::this_thread::sleep_for(milliseconds(100));  // the spec file is polled every 50 ms
  std::atomic<bool> write_done{false};
  const auto t0 = Clock::now();
  std::thread writer([&] {
    auto w = s.NewClient();
    EXPECT_TRUE(PutOk(*w, "slow-b", "b"));
    write_done = true;
  });
  std::this_thread::sleep_for(milliseconds(100));
  kv::ObjectResult r;
  ASSERT_TRUE(c->Query(client::NewKeyReader("slow-a"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  EXPECT_FALSE(write_done.load()) << "a read waited for the stalled fsync";
  writer.join();
  EXPECT_GE(Clock::now() - t0, milliseconds(1000)) << "the write did not wait for its fsync";
  s.ArmFailpoints("");
  EXPECT_TRUE(PutOk(*c, "slow-c", "c"));
}

// A wall-clock jump (clock.wall_offset_ms, what the nemesis's clock fault
// uses) reaches the server: an hour ahead, every client token is outside
// its +-600 s window; back in place, they pass again.
TEST(Failpoints, WallClockJumpReachesTheServer) {
  ServerProcess s("fp-clock");
  s.UseFailpoints();
  s.Start();
  ASSERT_TRUE(s.WaitReady()) << s.Log();
  auto c = s.NewClient();
  ASSERT_TRUE(PutOk(*c, "clock", "before"));
  s.ArmFailpoints("clock.wall_offset_ms=value:3600000");
  kv::ObjectResult r;
  const auto deadline = Clock::now() + seconds(5);
  bool denied = false;
  while (!denied && Clock::now() < deadline) {
    r.Clear();
    ASSERT_TRUE(c->Query(client::NewKeyReader("clock"), &r).ok());
    denied = r.status() == kvspec::kStatusClientError;
    if (!denied) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(denied) << r.message();
  EXPECT_NE(r.message().find("Access Denied"), std::string::npos) << r.message();
  s.ArmFailpoints("");
  bool ok = false;
  for (int i = 0; i < 100 && !ok; i++) {
    ok = PutOk(*c, "clock", "after");
    if (!ok) std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_TRUE(ok) << "tokens still refused after the clock came back";
}

// Three nodes; the leader (then the next leader, ...) crashes at each point
// of the replication path. Writers go through the other nodes.
TEST(Failpoints, ClusterLeaderCrashesAroundPersistAndApply) {
  ClusterProcess c("fp-cluster", ClusterOptions{3, "", {}, false, true, {}});
  ASSERT_TRUE(c.StartAll());
  std::vector<std::string> acked;
  for (const std::string fp : {"paxos.persist.before", "paxos.persist.after", "apply.before", "apply.after"}) {
    SCOPED_TRACE(fp);
    const int leader = c.Leader();
    ASSERT_GE(leader, 0);
    std::vector<ServerProcess*> others;
    for (int i = 0; i < 3; i++) {
      if (i != leader) others.push_back(&c.node(i));
    }
    Load load(fp + "-", others);
    ASSERT_TRUE(load.WaitMore(100));
    c.node(leader).ArmFailpoints(fp + "=crash@10");
    ExpectCrashAt(c.node(leader), fp);
    EXPECT_TRUE(load.WaitMore(50)) << "writes did not resume after the leader crashed";
    auto mine = load.Stop();
    acked.insert(acked.end(), mine.begin(), mine.end());
    ASSERT_NO_FATAL_FAILURE(RestartDisarmed(c.node(leader)));
  }
  ExpectIdentical(c);
  for (int i = 0; i < 3; i++) EXPECT_EQ(Missing(c.node(i), acked), 0u) << "node " << i + 1;
}

// A follower crashes right after persisting what it accepted (its ack
// never left), right before, and halfway through writing it to its WAL
// (the restarted node cuts the torn record off and catches up).
TEST(Failpoints, ClusterFollowerCrashesAroundPersist) {
  ClusterProcess c("fp-follower", ClusterOptions{3, "", {}, false, true, {}});
  ASSERT_TRUE(c.StartAll());
  std::vector<std::string> acked;
  for (const std::string fp : {"paxos.persist.after", "paxos.persist.before", "wal.append.torn"}) {
    SCOPED_TRACE(fp);
    const int leader = c.Leader();
    ASSERT_GE(leader, 0);
    const int follower = (leader + 1) % 3;
    Load load(fp + "-", {&c.node(leader)});
    ASSERT_TRUE(load.WaitMore(100));
    c.node(follower).ArmFailpoints(fp + "=crash@10");
    ExpectCrashAt(c.node(follower), fp);
    EXPECT_TRUE(load.WaitMore(50));
    ASSERT_NO_FATAL_FAILURE(RestartDisarmed(c.node(follower)));
    if (fp == "wal.append.torn") {
      EXPECT_NE(c.node(follower).Log().find("Paxos WAL: cutting"), std::string::npos) << c.node(follower).Log();
    }
    EXPECT_TRUE(load.WaitMore(50));
    auto mine = load.Stop();
    acked.insert(acked.end(), mine.begin(), mine.end());
  }
  ExpectIdentical(c);
  for (int i = 0; i < 3; i++) EXPECT_EQ(Missing(c.node(i), acked), 0u) << "node " << i + 1;
}

// A snapshot's sender crashes mid-stream, then its receiver crashes
// mid-install: another leader sends it again, the half-installed node
// wipes its partial copy at restart and gets a whole one.
TEST(Failpoints, ClusterCrashesDuringSnapshotSendAndInstall) {
  ClusterProcess c("fp-snap", ClusterOptions{3, "log_keep_entries = 100\n", {}, false, true, {}});
  ASSERT_TRUE(c.StartAll());
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % 3;
  ASSERT_EQ(c.node(lagging).Stop(SIGTERM), 0);

  // ~4 MiB in 1 KiB values (4 snapshot chunks), in 200 batches: the log
  // keeps only 100 entries, so the stopped node will need a snapshot.
  auto cl = c.node(leader).NewClient();
  const std::string pad(1000, 'p');
  std::vector<std::string> keys;
  auto bulk = [&](const std::string& prefix) {
    for (int b = 0; b < 200; b++) {
      kv::BatchRequest req;
      for (int i = 0; i < 20; i++) {
        const std::string key = prefix + std::to_string(b * 20 + i);
        *req.add_items()->mutable_writer() = client::NewWriter(key, key + pad);
        keys.push_back(key);
      }
      kv::BatchResult res;
      ASSERT_TRUE(cl->BatchCommit(req, &res).ok());
      ASSERT_EQ(res.status(), kvspec::kStatusOK) << res.message();
    }
  };
  bulk("a-");
  c.node(leader).ArmFailpoints("snapshot.send=crash@2");
  c.node(lagging).Start();
  ExpectCrashAt(c.node(leader), "snapshot.send", milliseconds(30000));
  // The third node leads now and sends the lagging one a whole snapshot.
  ASSERT_NO_FATAL_FAILURE(RestartDisarmed(c.node(leader)));
  ExpectIdentical(c);
  EXPECT_GE(c.Metric(lagging, "kvgo_cluster_snapshots_received_total"), 1) << c.node(lagging).Log();

  // Again, now the receiver crashes in the middle of installing.
  const int leader2 = c.Leader();
  ASSERT_GE(leader2, 0);
  const int lagging2 = (leader2 + 1) % 3;
  ASSERT_EQ(c.node(lagging2).Stop(SIGTERM), 0);
  cl = c.node(leader2).NewClient();
  bulk("b-");
  c.node(lagging2).ArmFailpoints("snapshot.install=crash@2");
  c.node(lagging2).Start();
  ExpectCrashAt(c.node(lagging2), "snapshot.install", milliseconds(30000));
  ASSERT_NO_FATAL_FAILURE(RestartDisarmed(c.node(lagging2)));
  ExpectIdentical(c);
  EXPECT_NE(c.node(lagging2).Log().find("a snapshot install was interrupted: wiping"), std::string::npos)
      << c.node(lagging2).Log();
  EXPECT_GE(c.Metric(lagging2, "kvgo_cluster_snapshots_received_total"), 1) << c.node(lagging2).Log();
  auto with_value = [&](ServerProcess& n) {
    auto x = n.NewClient();
    size_t bad = 0;
    for (size_t i = 0; i < keys.size(); i += 97) {
      kv::ObjectResult r;
      bool ok = false;
      for (int attempt = 0; attempt < 100 && !ok; attempt++) {  // an election may be under way
        r.Clear();
        ok = x->Query(client::NewKeyReader(keys[i]), &r).ok() && r.status() != kvspec::kStatusServerError;
        if (!ok) std::this_thread::sleep_for(milliseconds(50));
      }
      if (!ok || r.status() != kvspec::kStatusOK || client::ValueString(r.items(0)) != keys[i] + pad) bad++;
    }
    return bad;
  };
  for (int i = 0; i < 3; i++) EXPECT_EQ(with_value(c.node(i)), 0u) << "node " << i + 1;
}

// A rolling upgrade. While one member runs a version that knows only
// older apply rules (KVGO_MAX_APPLY_RULES=0 plays one; there is no older
// behaviour yet, so 0 applies as the first rules do), the leader proposes
// under those; once it runs the newest version too, under the newest rules,
// and it never steps back for a member it has not heard from. Every node
// computes the same incr ids throughout.
TEST(Failpoints, ApplyRulesFollowTheOldestMember) {
  ClusterProcess c("fp-rules", ClusterOptions{3, "", {}, false, true, {}});
  c.node(2).SetEnv({"KVGO_MAX_APPLY_RULES=0"});
  ASSERT_TRUE(c.StartAll());
  auto cl = c.node(0).NewClient();  // node 1 is never restarted; it forwards
  // Retried only while refused as never applied (an election after a
  // restart): a retried incr allocation would otherwise count twice.
  auto put = [&](const std::string& key, const std::string& ns, uint64_t id, const std::string& value) {
    auto w = client::NewWriter(key, value);
    w.set_incr_namespace(ns);
    w.mutable_meta()->set_incr_id(id);
    kv::ObjectResult r;
    const auto deadline = Clock::now() + seconds(10);
    while (cl->Commit(w, &r).ok() && r.status() != kvspec::kStatusOK && Clock::now() < deadline &&
           (r.message().find("no leader") != std::string::npos ||
            r.message().find("not the leader") != std::string::npos)) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_EQ(r.status(), kvspec::kStatusOK) << key << ": " << r.message();
    return r.meta().incr_id();
  };
  auto incr_id_on = [&](int node, const std::string& key) -> uint64_t {  // 0: no answer in 10 s
    auto nc = c.node(node).NewClient();
    const auto deadline = Clock::now() + seconds(10);
    for (kv::ObjectResult r; Clock::now() < deadline; std::this_thread::sleep_for(milliseconds(100))) {
      if (nc->Query(client::NewKeyReader(key), &r).ok() && r.items_size() == 1) return r.items(0).meta().incr_id();
    }
    return 0;
  };
  // The leader's: it hears from every member (a follower only from the
  // leader, and counts a member not heard from as rules 0).
  auto wait_rules = [&](double want) {
    const auto deadline = Clock::now() + seconds(20);
    double got = -1;
    while (Clock::now() < deadline) {
      const int leader = c.Leader();
      if (leader >= 0 && (got = c.Metric(leader, "kvgo_cluster_apply_rules")) == want) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_EQ(got, want);
  };
  // The case that matters: a newer leader with an older follower (an older
  // leader proposes under its own, older rules anyway).
  for (int tries = 0; c.Leader() == 2 && tries < 10; tries++) {
    EXPECT_EQ(c.node(2).Stop(SIGTERM), 0);
    c.node(2).Start();
    ASSERT_TRUE(c.node(2).WaitReady()) << c.node(2).Log();
  }
  ASSERT_NE(c.Leader(), 2);
  wait_rules(0);
  EXPECT_EQ(put("k1", "user", 1000, "a"), 1000u);
  EXPECT_EQ(put("k1", "", 0, "b"), 1000u);  // inherits 1000; "meta" stays
  EXPECT_EQ(put("k2", "meta", 0, "a"), 101u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(incr_id_on(i, "k2"), 101u) << "node " << i + 1;

  // Node 3 runs the newest version too.
  EXPECT_EQ(c.node(2).Stop(SIGTERM), 0);
  c.node(2).SetEnv({});
  c.node(2).Start();
  ASSERT_TRUE(c.node(2).WaitReady()) << c.node(2).Log();
  wait_rules(storage::kApplyRules);
  EXPECT_EQ(put("k3", "user", 5000, "a"), 5000u);
  EXPECT_EQ(put("k3", "", 0, "b"), 5000u);
  EXPECT_EQ(put("k4", "meta", 0, "a"), 102u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(incr_id_on(i, "k4"), 102u) << "node " << i + 1;

  // No step back: with node 3 down, nodes 1 and 2 restart; whichever
  // leads has not heard from node 3 since, and counts it at the highest
  // rules applied so far (it ran them once), not at 0.
  EXPECT_EQ(c.node(2).Stop(SIGTERM), 0);
  for (int i = 0; i < 2; i++) {
    EXPECT_EQ(c.node(i).Stop(SIGTERM), 0);
    c.node(i).Start();
    ASSERT_TRUE(c.node(i).WaitReady()) << c.node(i).Log();
  }
  cl = c.node(0).NewClient();
  wait_rules(storage::kApplyRules);
  EXPECT_EQ(put("k5", "user", 7000, "a"), 7000u);
  EXPECT_EQ(put("k5", "", 0, "b"), 7000u);
  EXPECT_EQ(put("k6", "meta", 0, "a"), 103u);
  c.node(2).Start();
  ASSERT_TRUE(c.node(2).WaitReady()) << c.node(2).Log();
  for (int i = 0; i < 3; i++) EXPECT_EQ(incr_id_on(i, "k6"), 103u) << "node " << i + 1;
  ExpectIdentical(c);
}

}  // namespace
}  // namespace kvgo::testing
