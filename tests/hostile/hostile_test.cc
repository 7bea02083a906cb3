// Hostile clients and careless operators against a single kvgo-server
// (real process on 127.0.0.1, stopped by pid at the end, also on failure).
// Each test names the defect it holds; each failed on the server before the
// fix.
#include "hostile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "auth/token.h"
#include "common/clock.h"
#include "common/kvspec.h"
#include "common/limits.h"
#include "hauth.pb.h"
#include "server_process.h"

namespace kvgo::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

class Hostile : public ::testing::Test {
 protected:
  void StartServer(const std::string& extra_toml = "") {
    server = std::make_unique<ServerProcess>(::testing::UnitTest::GetInstance()->current_test_info()->name());
    server->WriteConfig(server->DefaultConfig() + extra_toml);
    server->Start();
    ASSERT_TRUE(server->WaitReady()) << server->Log();
    root = server->NewClient();
  }

  // A new access key (AccessKeySet through the root key): its id and secret.
  std::pair<std::string, std::string> MakeKey(const std::string& role, const std::string& tables) {
    auto ids = [&] {
      std::set<std::string> out;
      const kv::ObjectResult list = SysCall(*root, "AccessKeyList");
      for (const auto& it : list.items()) out.insert(it.meta().key());
      return out;
    };
    const auto before = ids();
    hooto::hauth::v1::AccessKey k;
    k.add_roles(role);
    auto* s = k.add_scopes();
    s->set_name("kvgo/table");
    s->set_value(tables);
    EXPECT_EQ(SysCall(*root, "AccessKeySet", k.SerializeAsString()).status(), kvspec::kStatusOK);
    for (const auto& id : ids()) {
      if (before.count(id) == 0) {
        auto one = SysCall(*root, "AccessKeyList", id);
        return {id, nlohmann::json::parse(one.items(0).data().value().substr(1))["secret"]};
      }
    }
    ADD_FAILURE() << "no new key";
    return {};
  }

  std::unique_ptr<client::Client> ClientOf(const std::pair<std::string, std::string>& key) {
    client::ClientOptions o;
    o.addr = server->addr();
    o.key_id = key.first;
    o.secret = key.second;
    return std::make_unique<client::Client>(o);
  }

  double Metric(const std::string& sample) {
    const auto page = HttpGet(server->http_port(), "/metrics").second;
    std::istringstream in(page);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
    }
    return -1;
  }

  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<client::Client> root;
};

// Defect 6: a Commit of 12,582,892-12,582,912 bytes was stored, and every
// read of it then failed with "Sent message larger than max".
TEST_F(Hostile, AWriteThatCouldNotBeReadBackIsRefused) {
  StartServer();
  const kv::ObjectResult r = Send(*root, WriterOfSize("almost-12m", kvspec::kMaxMessageBytes - 20));
  EXPECT_EQ(r.status(), kvspec::kStatusClientError) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("Write Too Large"));
  // The largest write taken reads back whole, as a key, in a range and in
  // the log.
  ASSERT_EQ(Send(*root, WriterOfSize("max", limits::kMaxWriterBytes)).status(), kvspec::kStatusOK);
  EXPECT_EQ(Get(*root, "max").status(), kvspec::kStatusOK);
  EXPECT_EQ(Read(*root, client::NewRangeReader("", "")).status(), kvspec::kStatusOK);
  kv::ObjectReader log;
  log.set_mode(kvspec::kReadModeLogRange);
  log.set_limit_num(100);
  const kv::ObjectResult l = Read(*root, log);
  EXPECT_EQ(l.status(), kvspec::kStatusOK) << l.message();
}

// Defect 3 (first half): a key with role sa scoped to one table read the
// root secret with AccessKeyList and widened its own scope to "*".
TEST_F(Hostile, AScopedAdministratorStaysInItsScope) {
  StartServer();
  const auto admin = MakeKey("sa", "orders");
  auto a = ClientOf(admin);
  // No root secret, whole or masked, to anyone.
  for (auto* c : {a.get(), root.get()}) {
    const kv::ObjectResult list = SysCall(*c, "AccessKeyList");
    for (const auto& it : list.items()) {
      EXPECT_EQ(it.data().value().find(server->secret().substr(0, 4)), std::string::npos) << it.data().value();
    }
    const auto r = SysCall(*c, "AccessKeyList", kvspec::kRootKeyId);
    for (const auto& it : r.items()) EXPECT_EQ(it.data().value().find(server->secret()), std::string::npos);
  }
  // It cannot widen itself, nor make a key beyond its tables.
  hooto::hauth::v1::AccessKey wider;
  wider.set_id(admin.first);
  wider.add_roles("sa");
  auto* s = wider.add_scopes();
  s->set_name("kvgo/table");
  s->set_value("*");
  kv::ObjectResult r = SysCall(*a, "AccessKeySet", wider.SerializeAsString());
  EXPECT_EQ(r.status(), kvspec::kStatusClientError) << r.message();
  EXPECT_THAT(r.message(), HasSubstr("Access Denied"));
  wider.clear_id();
  s->set_value("orders,secret");
  EXPECT_THAT(SysCall(*a, "AccessKeySet", wider.SerializeAsString()).message(), HasSubstr("Access Denied"));
  // Within its scope it manages keys.
  s->set_value("orders");
  EXPECT_EQ(SysCall(*a, "AccessKeySet", wider.SerializeAsString()).status(), kvspec::kStatusOK);
  // Node-wide status and the sys table are a full administrator's.
  EXPECT_EQ(SysCall(*a, "SysStatus").message(), "Access Denied");
  kv::ObjectReader sys = client::NewKeyReader("sys:table:main");
  sys.set_table_name("sys");
  EXPECT_EQ(Read(*a, sys).message(), "Access Denied");
  // And it still reaches only its table.
  EXPECT_EQ(SysCall(*root, "TableSet",
                    [] {
                      kv::TableSetRequest t;
                      t.set_name("secret");
                      return t.SerializeAsString();
                    }())
                .status(),
            kvspec::kStatusOK);
  kv::ObjectReader other = client::NewKeyReader("k");
  other.set_table_name("secret");
  EXPECT_THAT(Read(*a, other).message(), HasSubstr("Access Denied"));
}

// Defect 5: an item without a table name ran against the batch's table,
// which was never checked: a client key reached table sys, and a key scoped
// "orders," (trailing comma) table secret.
TEST_F(Hostile, BatchCommitAuthorisesTheTableEachItemUses) {
  StartServer();
  kv::TableSetRequest t;
  t.set_name("secret");
  ASSERT_EQ(SysCall(*root, "TableSet", t.SerializeAsString()).status(), kvspec::kStatusOK);
  kv::ObjectWriter w = client::NewWriter("k", "v");
  w.set_table_name("secret");
  ASSERT_EQ(Send(*root, w).status(), kvspec::kStatusOK);

  auto batch_via = [&](client::Client& c, const std::string& table, bool write) {
    kv::BatchRequest b;
    b.set_table_name(table);
    if (write) {
      *b.add_items()->mutable_writer() = client::NewWriter("k", "stolen");
    } else {
      *b.add_items()->mutable_reader() = client::NewKeyReader("k");
    }
    kv::BatchResult r;
    grpc::Status s = c.BatchCommit(b, &r);
    return s.ok() ? r.message() : "rpc: " + s.error_message();
  };
  auto all = ClientOf(MakeKey("client", "*"));
  EXPECT_THAT(batch_via(*all, "sys", true), HasSubstr("Access Denied"));
  EXPECT_THAT(batch_via(*all, "sys", false), HasSubstr("Access Denied"));
  auto orders = ClientOf(MakeKey("client", "orders,"));
  EXPECT_THAT(batch_via(*orders, "secret", false), HasSubstr("Access Denied"));
  EXPECT_THAT(batch_via(*orders, "secret", true), HasSubstr("Access Denied"));
  kv::ObjectReader rd = client::NewKeyReader("k");
  rd.set_table_name("secret");
  const kv::ObjectResult left = Read(*root, rd);
  ASSERT_EQ(left.status(), kvspec::kStatusOK);
  EXPECT_EQ(client::ValueString(left.items(0)), "v");
}

// Defect 4: a 1.5 KB Query naming one 1 MiB key 300 times built a 314 MB
// reply before the message limit refused it (RSS +620 MB, never given
// back); 40 range readers in one BatchCommit built 293 MB; a request could
// name 4 million keys.
TEST_F(Hostile, SmallRequestsCannotBuildHugeReplies) {
  StartServer();
  for (int i = 0; i < 20; i++) {
    ASSERT_EQ(Put(*root, "big/" + std::to_string(100 + i), std::string(1 << 20, 'x')).status(), kvspec::kStatusOK);
  }
  const int64_t peak_before = PeakRssBytes(server->pid());
  kv::ObjectReader many;
  many.set_mode(kvspec::kReadModeKey);
  for (int i = 0; i < 300; i++) many.add_keys("big/100");
  std::vector<std::thread> readers;
  std::vector<kv::ObjectResult> results(4);
  for (int t = 0; t < 4; t++) {
    readers.emplace_back([&, t] {
      auto c = server->NewClient();
      results[t] = Read(*c, many);
    });
  }
  for (auto& t : readers) t.join();
  for (const auto& r : results) {
    EXPECT_EQ(r.status(), kvspec::kStatusClientError) << r.message();
    EXPECT_THAT(r.message(), HasSubstr("12 MiB message limit"));
  }
  kv::BatchRequest ranges;
  for (int i = 0; i < 40; i++) *ranges.add_items()->mutable_reader() = client::NewRangeReader("big/", "big/", 1000);
  kv::BatchResult br;
  EXPECT_TRUE(root->BatchCommit(ranges, &br).ok());
  EXPECT_EQ(br.status(), kvspec::kStatusClientError) << br.message();
  EXPECT_THAT(br.message(), HasSubstr("12 MiB message limit"));
  const int64_t grown = PeakRssBytes(server->pid()) - peak_before;
  EXPECT_LT(grown, int64_t{150} << 20) << "peak RSS grew by " << (grown >> 20) << " MiB";

  kv::ObjectReader huge;
  huge.set_mode(kvspec::kReadModeKey);
  for (int i = 0; i < 200000; i++) huge.add_keys("k" + std::to_string(i));
  const kv::ObjectResult r = Read(*root, huge);
  EXPECT_EQ(r.status(), kvspec::kStatusClientError);
  EXPECT_THAT(r.message(), HasSubstr("too many keys"));
  EXPECT_GE(Metric("kvgo_requests_refused_total{reason=\"too_many_keys\",rpc=\"Query\"}"), 1);
  // Reads within the limits work as before.
  EXPECT_EQ(Read(*root, client::NewRangeReader("big/", "big/", 1000)).status(), kvspec::kStatusOK);
}

// The memory budgets refuse what does not fit when a request arrives, and
// a refused call is answered once (answering it again crashed the server).
TEST_F(Hostile, RequestsBeyondTheMemoryBudgetAreRefusedAndTheServerGoesOn) {
  StartServer("\n[limits]\nmax_call_bytes = 16777216\n");
  std::vector<std::thread> writers;
  std::atomic<int> ok{0}, busy{0}, other{0};
  for (int t = 0; t < 4; t++) {
    writers.emplace_back([&, t] {
      auto c = server->NewClient();
      for (int i = 0; i < 4; i++) {
        const kv::ObjectResult r = Send(*c, WriterOfSize("w" + std::to_string(t * 10 + i), 7 << 20));
        if (r.status() == kvspec::kStatusOK) {
          ok++;
        } else if (r.message().find("server busy") != std::string::npos) {
          busy++;
        } else {
          other++;
          ADD_FAILURE() << r.message();
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(busy.load(), 0);  // two 7 MiB requests at once already pass 16 MiB
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Put(*root, "after", "v").status(), kvspec::kStatusOK);
  EXPECT_EQ(waitpid(server->pid(), nullptr, WNOHANG), 0) << server->Log();
}

// Defect 4 (end): a client that opened 100 streams and never read their
// replies (HTTP/2 window 0) pinned 1.45 GB for as long as it stayed
// connected.
TEST_F(Hostile, RepliesAClientDoesNotTakeAreBoundedAndCancelled) {
  StartServer("\n[limits]\nreply_timeout_ms = 1500\nmax_connection_call_bytes = 16777216\n");
  ASSERT_EQ(Put(*root, "big", std::string(1 << 20, 'x')).status(), kvspec::kStatusOK);
  const int64_t peak_before = PeakRssBytes(server->pid());
  StallingH2Client stall(server->port());
  ASSERT_TRUE(stall.connected());
  const std::string query = client::NewKeyReader("big").SerializeAsString();
  for (int i = 0; i < 150; i++) {
    stall.Call("/lynkdb.kvspec.v2.Public/Query", auth::SignToken("00000000", server->secret(), SystemClock()->NowMs()),
               query);
  }
  stall.Pump(milliseconds(800));
  const int64_t grown = PeakRssBytes(server->pid()) - peak_before;
  EXPECT_LT(grown, int64_t{80} << 20) << "peak RSS grew by " << (grown >> 20) << " MiB";
  // Others are served meanwhile.
  auto other = server->NewClient();
  EXPECT_EQ(Get(*other, "big").status(), kvspec::kStatusOK);
  // After the reply timeout the server cancels the stalled calls.
  int resets = 0;
  ASSERT_TRUE(WaitFor([&] { return (resets = stall.Pump(milliseconds(100))) >= 100; }, seconds(10)))
      << resets << " streams reset";
  EXPECT_GE(Metric("kvgo_requests_refused_total{reason=\"stalled_reply\",rpc=\"Query\"}"), 1);
}

// Defect 2: with the open-file limit reached by idle connections, gRPC
// logged "Failed accept4: Too many open files" and never accepted again,
// even after every connection was closed.
TEST_F(Hostile, AConnectionFloodDoesNotKillThePort) {
  server = std::make_unique<ServerProcess>("flood");
  server->WriteConfig(server->DefaultConfig() + "\n[performance]\nmax_open_files = 64\n");
  // A low open-file limit (soft and hard) keeps the flood small.
  server->StartArgv({"/bin/sh", "-c", "ulimit -n 300 && exec \"$0\" --config \"$1\"", ServerBinary(),
                     server->prefix() + "/etc/kvgo-server.conf"});
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  root = server->NewClient();
  ASSERT_EQ(Put(*root, "before", "v").status(), kvspec::kStatusOK);
  std::vector<int> flood;
  for (int i = 0; i < 600; i++) {
    if (int fd = ConnectLoopback(server->port()); fd >= 0) flood.push_back(fd);
  }
  EXPECT_TRUE(WaitFor([&] { return Metric("kvgo_connections_refused_total{reason=\"limit\"}") >= 100; }, seconds(10)));
  // The server keeps descriptors for its own work: writes go on through a
  // connection it had before.
  EXPECT_EQ(Put(*root, "during", "v").status(), kvspec::kStatusOK);
  for (int fd : flood) close(fd);
  // The port lives: a new client is served (once gRPC dropped the flood's
  // connections, which had 10 s to start HTTP/2).
  auto fresh = server->NewClient();
  kv::ObjectResult r;
  EXPECT_TRUE(WaitFor([&] { return (r = Put(*fresh, "after", "v")).status() == kvspec::kStatusOK; }, seconds(20)))
      << r.message();
  EXPECT_EQ(server->Log().find("Failed accept4"), std::string::npos);
}

// Defect 7: two half-sent HTTP requests (civetweb with 2 threads and a
// 30 s request timeout) made /readyz, /livez and /metrics time out, enough
// to fail liveness probes and get the node restarted.
TEST_F(Hostile, HalfSentHttpRequestsDoNotStarveHealthChecks) {
  StartServer();
  auto half_sent = [&](int n) {
    std::vector<int> fds;
    for (int i = 0; i < n; i++) {
      const int fd = ConnectLoopback(server->http_port());
      if (fd < 0) continue;
      const std::string part = "GET /metrics HTTP/1.1\r\nHost: x\r\n";
      (void)!write(fd, part.data(), part.size());
      fds.push_back(fd);
    }
    return fds;
  };
  auto timed_get = [&](const std::string& path) {
    const auto t0 = std::chrono::steady_clock::now();
    const int code = HttpGet(server->http_port(), path).first;
    return std::make_pair(code, std::chrono::steady_clock::now() - t0);
  };
  // A few: answered at once.
  std::vector<int> slow = half_sent(8);
  std::this_thread::sleep_for(milliseconds(200));
  for (const char* path : {"/livez", "/readyz"}) {
    const auto [code, took] = timed_get(path);
    EXPECT_EQ(code, 200) << path;
    EXPECT_LT(took, milliseconds(1500)) << path;  // the old server: 30 s
  }
  // More than its threads: answered once the slow ones time out (1 s).
  std::vector<int> more = half_sent(40);
  std::this_thread::sleep_for(milliseconds(200));
  const auto [code, took] = timed_get("/readyz");
  EXPECT_EQ(code, 200);
  EXPECT_LT(took, milliseconds(4000));
  for (int fd : slow) close(fd);
  for (int fd : more) close(fd);
}

// Defect 10: with the data directory deleted while the server ran, writes
// went on answering OK (994 of 1,500) before failing, /readyz stayed ready,
// and the restart silently made an empty database.
TEST_F(Hostile, ADeletedDataDirectoryStopsWritesAndReadiness) {
  StartServer();
  ASSERT_EQ(Put(*root, "k", "v").status(), kvspec::kStatusOK);
  std::filesystem::remove_all(server->prefix() + "/var/data");
  kv::ObjectResult r;
  EXPECT_TRUE(WaitFor([&] { return (r = Put(*root, "lost", "v")).status() == kvspec::kStatusServerError; }, seconds(2)))
      << r.message();
  EXPECT_THAT(r.message(), HasSubstr("deleted or replaced"));
  EXPECT_EQ(HttpGet(server->http_port(), "/readyz").first, 503);
  EXPECT_EQ(Metric("kvgo_data_directory_ok"), 0);
  EXPECT_EQ(Get(*root, "k").status(), kvspec::kStatusOK);  // still readable: copy it out
  ASSERT_EQ(server->Stop(SIGTERM), 0);
  server->Start();
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  EXPECT_THAT(server->Log(), HasSubstr("created a new, empty database in " + server->prefix() + "/var/data"));
}

// Defect 11: after an explicit incr_id of 2^64-1 the next ids handed out
// were 0 ("no id") and 1.
TEST_F(Hostile, IncrIdsNeverWrap) {
  StartServer();
  kv::ObjectWriter w = client::NewWriter("top", "v");
  w.set_incr_namespace("orders");
  w.mutable_meta()->set_incr_id(UINT64_MAX);
  ASSERT_EQ(Send(*root, w).meta().incr_id(), UINT64_MAX);
  for (const std::string key : {"next", "next2"}) {
    kv::ObjectWriter n = client::NewWriter(key, "v");
    n.set_incr_namespace("orders");
    const kv::ObjectResult r = Send(*root, n);
    EXPECT_EQ(r.status(), kvspec::kStatusClientError) << key << " got id " << r.meta().incr_id();
    EXPECT_THAT(r.message(), HasSubstr("used up"));
  }
}

// Defect 13: a reserve below LevelDB's need (min_free_bytes 8 MiB where it
// needs 27 MiB) let the server fill the disk to 0 bytes, and then refuse
// deletes too: nothing could be freed through the API. No warning.
TEST_F(Hostile, AReserveBelowLevelDbsNeedIsRefused) {
  server = std::make_unique<ServerProcess>("reserve");
  std::string cfg = server->DefaultConfig();
  cfg.replace(cfg.find("\n\n[server]"), 10, "\nmin_free_bytes = 8388608\n\n[server]");
  server->WriteConfig(cfg + "\n[performance]\nwrite_buffer_size = 1\nmax_table_size = 1\n");
  server->Start();
  EXPECT_EQ(server->WaitExit(seconds(10)), 2);
  EXPECT_THAT(server->Log(), HasSubstr("storage.min_free_bytes: must be 0 (no reserve) or at least 28311552"));
}

// Defect 14 (minor): libprotobuf's complaints (a string that is not UTF-8)
// went to stderr outside the log format, one per request.
TEST_F(Hostile, ProtobufsComplaintsGoToTheLogOnce) {
  StartServer();
  // A key that is not UTF-8 in a string field: protobuf's complaint, in
  // the log's format, once.
  kv::ObjectReader bad;
  bad.set_mode(kvspec::kReadModeKey);
  bad.set_table_name("\xc3\x28");
  for (int i = 0; i < 50; i++) Read(*root, bad);
  const std::string log = server->Log();
  const auto first = log.find("protobuf: ");
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("protobuf: ", first + 1), std::string::npos) << log;
  EXPECT_EQ(log.find("[libprotobuf"), std::string::npos) << log;
}

}  // namespace
}  // namespace kvgo::testing
