// Every Public RPC and its error paths over real gRPC against the real
// binary, with the C++ client signing tokens as the Go SDK does.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "auth/token.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/kvspec.h"
#include "hauth.pb.h"
#include "kvspec.grpc.pb.h"
#include "server_process.h"

namespace kvgo::testing {
namespace {

namespace kv = lynkdb::kvspec::v2;
using client::NewKeyReader;
using client::NewRangeReader;
using client::NewWriter;

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess("api");
    server->Start();
    ASSERT_TRUE(server->WaitReady()) << server->Log();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server->Stop(SIGTERM), 0) << server->Log();
    delete server;
    server = nullptr;
  }
  void SetUp() override { c = server->NewClient(); }

  kv::ObjectResult Commit(const kv::ObjectWriter& w) {
    kv::ObjectResult r;
    EXPECT_TRUE(c->Commit(w, &r).ok());
    return r;
  }
  kv::ObjectResult Query(const kv::ObjectReader& q) {
    kv::ObjectResult r;
    EXPECT_TRUE(c->Query(q, &r).ok());
    return r;
  }
  kv::ObjectResult Sys(const std::string& method, const std::string& body = "") {
    kv::SysCmdRequest req;
    req.set_method(method);
    req.set_body(body);
    kv::ObjectResult r;
    EXPECT_TRUE(c->SysCmd(req, &r).ok());
    return r;
  }
  // Raw call with a hand-made token header (or none).
  kv::ObjectResult QueryWithToken(const std::string* token) {
    auto channel = grpc::CreateChannel(server->addr(), grpc::InsecureChannelCredentials());
    auto stub = kv::Public::NewStub(channel);
    grpc::ClientContext ctx;
    if (token) ctx.AddMetadata("x-hooto-auth", *token);
    kv::ObjectResult r;
    EXPECT_TRUE(stub->Query(&ctx, NewKeyReader("x"), &r).ok());
    return r;
  }

  static ServerProcess* server;
  std::unique_ptr<client::Client> c;
};
ServerProcess* ApiTest::server = nullptr;

TEST_F(ApiTest, PutGetDelete) {
  auto w = Commit(NewWriter("pgd/k1", "hello"));
  ASSERT_EQ(w.status(), kvspec::kStatusOK) << w.message();
  EXPECT_GE(w.meta().version(), 101u);
  EXPECT_GT(w.meta().updated(), 0u);
  auto r = Query(NewKeyReader("pgd/k1"));
  ASSERT_EQ(r.status(), kvspec::kStatusOK);
  EXPECT_EQ(client::ValueString(r.items(0)), "hello");
  EXPECT_EQ(r.items(0).meta().key(), "pgd/k1");
  EXPECT_EQ(r.items(0).data().check(), ValueCheck(std::string("\0hello", 6)));
  EXPECT_GE(r.log_version(), w.meta().version());
  auto d = NewWriter("pgd/k1", "");
  d.clear_data();
  d.set_mode(kvspec::kWriteModeDelete);
  auto dr = Commit(d);
  EXPECT_EQ(dr.status(), kvspec::kStatusOK);
  EXPECT_GT(dr.meta().version(), w.meta().version());
  EXPECT_EQ(Query(NewKeyReader("pgd/k1")).status(), kvspec::kStatusNotFound);
}

TEST_F(ApiTest, AuthFailuresAreInBandStatus4) {
  EXPECT_EQ(QueryWithToken(nullptr).message(), "Access Denied : no auth token found");
  std::string empty;
  EXPECT_EQ(QueryWithToken(&empty).message(), "Access Denied : access_token not found");
  std::string garbage = "not-a-token";
  EXPECT_EQ(QueryWithToken(&garbage).message(), "Access Denied : access_token not found");
  const int64_t now = SystemClock()->NowMs();
  std::string wrong = auth::SignToken("00000000", "wrong-secret-0123456789", now);
  auto r = QueryWithToken(&wrong);
  EXPECT_EQ(r.status(), kvspec::kStatusClientError);
  EXPECT_EQ(r.message(), "Access Denied : sign denied");
  std::string old = auth::SignToken("00000000", ServerProcess::kSecret, now - 700000);
  EXPECT_EQ(QueryWithToken(&old).message(), "Access Denied : invalid request time");
  std::string good = auth::SignToken("00000000", ServerProcess::kSecret, now);
  EXPECT_EQ(QueryWithToken(&good).status(), kvspec::kStatusNotFound);
  // A denied write writes nothing.
  auto bad = server->NewClient("wrong-secret-0123456789");
  kv::ObjectResult wr;
  ASSERT_TRUE(bad->Commit(NewWriter("auth/k", "v"), &wr).ok());
  EXPECT_EQ(wr.status(), kvspec::kStatusClientError);
  EXPECT_EQ(Query(NewKeyReader("auth/k")).status(), kvspec::kStatusNotFound);
}

TEST_F(ApiTest, ValidationErrors) {
  EXPECT_EQ(Commit(NewWriter(std::string(257, 'k'), "v")).message(), "Invalid Meta/Key (len 257)");
  EXPECT_EQ(Commit(NewWriter("", "v")).message(), "Invalid Meta/Key (len 0)");
  auto w = NewWriter("val/k", "v");
  w.mutable_data()->set_check(1);
  EXPECT_EQ(Commit(w).message(), "Invalid Value Sum Check");
  kv::ObjectWriter empty;
  EXPECT_EQ(Commit(empty).message(), "Meta Not Found");
  auto t = NewWriter("val/k", "v");
  t.set_table_name("no-such-table");
  auto tr = Commit(t);
  EXPECT_EQ(tr.status(), kvspec::kStatusServerError);
  EXPECT_EQ(tr.message(), "table not found");
  auto q = NewKeyReader("x");
  q.set_table_name("no-such-table");
  auto qr = Query(q);
  EXPECT_EQ(qr.status(), kvspec::kStatusClientError);
  EXPECT_EQ(qr.message(), "table not found");
  kv::ObjectReader bad_mode;
  bad_mode.set_mode(8);
  EXPECT_EQ(Query(bad_mode).message(), "invalid mode");
}

TEST_F(ApiTest, LargeValuesAndOversizedMessages) {
  const std::string big(11 << 20, 'b');
  auto w = Commit(NewWriter("large/11m", big));
  ASSERT_EQ(w.status(), kvspec::kStatusOK) << w.message();
  auto r = Query(NewKeyReader("large/11m"));
  ASSERT_EQ(r.status(), kvspec::kStatusOK);
  EXPECT_EQ(client::ValueString(r.items(0)).size(), big.size());
  // Over the 12 MiB limit: refused by the transport, the server lives on.
  kv::ObjectResult out;
  grpc::Status st = c->Commit(NewWriter("large/13m", std::string(13 << 20, 'x')), &out);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Query(NewKeyReader("large/13m")).status(), kvspec::kStatusNotFound);
  EXPECT_EQ(Commit(NewWriter("large/after", "ok")).status(), kvspec::kStatusOK);
}

TEST_F(ApiTest, RangePagingAndReverse) {
  for (int i = 0; i < 23; i++) {
    ASSERT_EQ(Commit(NewWriter("rng/" + std::to_string(1000 + i), "v")).status(), kvspec::kStatusOK);
  }
  std::vector<std::string> keys;
  std::string offset = "rng/";
  for (int page = 0; page < 10; page++) {
    auto r = Query(NewRangeReader(offset, "rng/", 10));
    if (r.status() == kvspec::kStatusNotFound) break;
    ASSERT_EQ(r.status(), kvspec::kStatusOK);
    for (const auto& it : r.items()) keys.push_back(it.meta().key());
    offset = keys.back();
    if (!r.next()) break;
  }
  ASSERT_EQ(keys.size(), 23u);
  EXPECT_EQ(keys.front(), "rng/1000");
  EXPECT_EQ(keys.back(), "rng/1022");
  auto rev = NewRangeReader("rng/1003", "rng/1000", 10);
  rev.set_mode(kvspec::kReadModeKeyRange | kvspec::kReadModeRevRange);
  auto rr = Query(rev);
  ASSERT_EQ(rr.items_size(), 3);
  EXPECT_EQ(rr.items(0).meta().key(), "rng/1002");
  EXPECT_EQ(rr.items(2).meta().key(), "rng/1000");
}

TEST_F(ApiTest, LogRangeLongPoll) {
  auto first = Commit(NewWriter("log/a", "1"));
  kv::ObjectReader q;
  q.set_mode(kvspec::kReadModeLogRange);
  q.set_log_offset(first.meta().version());
  q.set_limit_num(10);
  q.set_wait_time(5000);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto c2 = server->NewClient();
    kv::ObjectResult r;
    c2->Commit(NewWriter("log/b", "2"), &r);
  });
  auto r = Query(q);
  writer.join();
  ASSERT_EQ(r.status(), kvspec::kStatusOK);
  ASSERT_GE(r.items_size(), 1);
  EXPECT_EQ(r.items(0).meta().key(), "log/b");
  EXPECT_GT(r.items(0).meta().version(), first.meta().version());
}

TEST_F(ApiTest, BatchCommit) {
  kv::BatchRequest b;
  *b.add_items()->mutable_writer() = NewWriter("batch/a", "1");
  *b.add_items()->mutable_writer() = NewWriter("batch/b", "2");
  *b.add_items()->mutable_reader() = NewKeyReader("batch/a");
  *b.add_items()->mutable_writer() = NewWriter(std::string(300, 'x'), "bad");
  b.add_items();  // neither reader nor writer
  kv::BatchResult r;
  ASSERT_TRUE(c->BatchCommit(b, &r).ok());
  ASSERT_EQ(r.items_size(), 5);
  EXPECT_EQ(r.status(), kvspec::kStatusUnset);
  EXPECT_EQ(r.items(0).status(), kvspec::kStatusOK);
  EXPECT_EQ(r.items(1).meta().version(), r.items(0).meta().version() + 1);
  EXPECT_EQ(r.items(2).status(), kvspec::kStatusOK);  // sees the write before it
  EXPECT_EQ(client::ValueString(r.items(2).items(0)), "1");
  EXPECT_EQ(r.items(3).message(), "Invalid Meta/Key (len 300)");
  EXPECT_EQ(r.message(), "b3 Invalid Meta/Key (len 300) , b4 no reader/writer commit ");
  kv::BatchRequest ok;
  *ok.add_items()->mutable_writer() = NewWriter("batch/c", "3");
  ASSERT_TRUE(c->BatchCommit(ok, &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  kv::BatchRequest empty;
  ASSERT_TRUE(c->BatchCommit(empty, &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
}

TEST_F(ApiTest, TablesAndAccessKeys) {
  kv::TableSetRequest ts;
  ts.set_name("Bad Name");
  EXPECT_EQ(Sys("TableSet", ts.SerializeAsString()).message(), "invalid table name");
  ts.set_name("app-table");
  ts.set_desc("for the app");
  auto created = Sys("TableSet", ts.SerializeAsString());
  ASSERT_EQ(created.status(), kvspec::kStatusOK) << created.message();
  EXPECT_GE(created.meta().incr_id(), 101u);
  EXPECT_EQ(Sys("TableSet", ts.SerializeAsString()).meta().incr_id(), created.meta().incr_id());
  auto list = Sys("TableList");
  ASSERT_EQ(list.status(), kvspec::kStatusOK);
  bool saw_main = false, saw_app = false;
  for (const auto& it : list.items()) {
    ASSERT_EQ(it.data().value()[0], '\x02');
    auto j = nlohmann::json::parse(it.data().value().substr(1));
    if (j["name"] == "main") saw_main = it.meta().incr_id() == 10;
    if (j["name"] == "app-table") saw_app = j["desc"] == "for the app";
    EXPECT_NE(j["name"], "sys");
  }
  EXPECT_TRUE(saw_main);
  EXPECT_TRUE(saw_app);
  auto w = NewWriter("k", "v");
  w.set_table_name("app-table");
  EXPECT_EQ(Commit(w).meta().version(), 101u);  // versions are per table

  // AccessKeySet generates a key; AccessKeyList shows it masked, by id unmasked.
  hooto::hauth::v1::AccessKey ak;
  ak.add_roles("client");
  auto* scope = ak.add_scopes();
  scope->set_name("kvgo/table");
  scope->set_value("app-table");
  ASSERT_EQ(Sys("AccessKeySet", ak.SerializeAsString()).status(), kvspec::kStatusOK);
  auto all = Sys("AccessKeyList");
  ASSERT_EQ(all.status(), kvspec::kStatusOK);
  std::string id;
  for (const auto& it : all.items()) {
    auto j = nlohmann::json::parse(it.data().value().substr(1));
    if (j["id"] != "00000000") id = j["id"];
    EXPECT_NE(j["secret"].get<std::string>().find("********"), std::string::npos);
  }
  ASSERT_EQ(id.size(), 16u);
  auto one = Sys("AccessKeyList", id);
  ASSERT_EQ(one.items_size(), 1);
  const std::string secret = nlohmann::json::parse(one.items(0).data().value().substr(1))["secret"];
  ASSERT_EQ(secret.size(), 40u);
  EXPECT_EQ(Sys("AccessKeyList", "BAD ID").message(), "invalid access key id");
  EXPECT_EQ(Sys("AccessKeyList", "unknownid").items_size(), 0);

  // The new key reads its table, and nothing else.
  client::ClientOptions o;
  o.addr = server->addr();
  o.key_id = id;
  o.secret = secret;
  client::Client app(o);
  auto q = NewKeyReader("k");
  q.set_table_name("app-table");
  kv::ObjectResult r;
  ASSERT_TRUE(app.Query(q, &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK) << r.message();
  // No table name is table main, and the scope check names it so.
  ASSERT_TRUE(app.Query(NewKeyReader("k"), &r).ok());
  EXPECT_EQ(r.message(), "Access Denied : access_key/scopes/value=main not match");
  kv::SysCmdRequest status;
  status.set_method("SysStatus");
  ASSERT_TRUE(app.SysCmd(status, &r).ok());
  EXPECT_EQ(r.message(), "Access Denied");
  ak.set_id("nosuchkey1");
  EXPECT_EQ(Sys("AccessKeySet", ak.SerializeAsString()).message(), "access key not found");
  ak.set_id("00000000");
  auto root = Sys("AccessKeySet", ak.SerializeAsString());
  EXPECT_EQ(root.status(), kvspec::kStatusClientError);
  EXPECT_NE(root.message().find("is a root key from the config file"), std::string::npos) << root.message();
  ak.clear_roles();
  EXPECT_EQ(Sys("AccessKeySet", ak.SerializeAsString()).message(), "invalid roles settings");
}

TEST_F(ApiTest, SysCommands) {
  auto s = Sys("SysStatus");
  ASSERT_EQ(s.status(), kvspec::kStatusOK);
  ASSERT_EQ(s.items_size(), 1);
  auto j = nlohmann::json::parse(s.items(0).data().value().substr(1));
  EXPECT_EQ(j["nodes"][0]["addr"], server->addr());
  EXPECT_GT(j["nodes"][0]["uptime"].get<int64_t>(), 1600000000);
  auto m = Sys("SysMetrics");
  ASSERT_EQ(m.status(), kvspec::kStatusOK) << m.message();
  auto mj = nlohmann::json::parse(m.items(0).data().value().substr(1));
  ASSERT_EQ(mj["time_buckets"].size(), 1u);
  bool saw_commit_calls = false;
  for (const auto& metric : mj["metrics"]) {
    if (metric["name"] == "ServiceCall" && metric["labels"][0]["value"] == "SysCmd") {
      saw_commit_calls = metric["points"][0]["count"].get<int64_t>() >= 1;
    }
  }
  EXPECT_TRUE(saw_commit_calls) << mj.dump();
  EXPECT_EQ(mj["status"]["last_time_range"], 600);
  EXPECT_EQ(Sys("NoSuchCmd").message(), "cmd not found");
  EXPECT_EQ(Sys("TableSet", "\xff\xff").status(), kvspec::kStatusClientError);
}

TEST_F(ApiTest, TtlHidesAtOnce) {
  auto w = NewWriter("ttl/k", "v");
  w.mutable_meta()->set_expired(SystemClock()->NowMs() + 1500);
  ASSERT_EQ(Commit(w).status(), kvspec::kStatusOK);
  EXPECT_EQ(Query(NewKeyReader("ttl/k")).status(), kvspec::kStatusOK);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  uint64_t st = kvspec::kStatusOK;
  while (st == kvspec::kStatusOK && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    st = Query(NewKeyReader("ttl/k")).status();
  }
  EXPECT_EQ(st, kvspec::kStatusNotFound);
}

TEST_F(ApiTest, InternalServiceIsUnimplemented) {
  auto channel = grpc::CreateChannel(server->addr(), grpc::InsecureChannelCredentials());
  auto stub = kv::Internal::NewStub(channel);
  grpc::ClientContext ctx;
  kv::ObjectResult r;
  EXPECT_EQ(stub->Prepare(&ctx, kv::ObjectWriter(), &r).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ApiTest, HostileTokensAreRefusedAndCounted) {
  auto total = [&] {
    const std::string body = HttpGet(server->http_port(), "/metrics").second;
    double sum = 0;
    size_t at = 0;
    while ((at = body.find("\nkvgo_auth_failures_total{", at)) != std::string::npos) {
      at = body.find("} ", at);
      sum += std::stod(body.substr(at + 2));
    }
    return sum;
  };
  const double before = total();
  const int64_t now = SystemClock()->NowMs();
  const std::string good = auth::SignToken("00000000", ServerProcess::kSecret, now);
  std::vector<std::string> hostile = {
      auth::SignToken("00000000", ServerProcess::kSecret, now - 601000),  // replayed, outside the window
      auth::SignToken("00000000", ServerProcess::kSecret, now + 601000),  // from the future
      auth::SignToken("00000000", "forged-secret-0123456789", now),       // forged signature
      auth::SignToken("someoneelse1", "forged-secret-0123456789", now),   // another key's id
      good.substr(0, good.size() - 5),                                    // truncated signature
      good.substr(0, good.find('.', 2)),                                  // no signature at all
      good + "AAAA",                                                      // padded signature
      "2.%%%not-base64%%%." + good.substr(good.rfind('.') + 1),           // payload not base64
      "3" + good.substr(1),                                               // unknown version
      std::string(4000, 'A'),                                             // long garbage
      "",                                                                 // empty
  };
  for (const auto& t : hostile) {
    kv::ObjectResult r = QueryWithToken(&t);
    EXPECT_EQ(r.status(), kvspec::kStatusClientError) << t.substr(0, 80);
    EXPECT_EQ(r.message().rfind("Access Denied", 0), 0u) << t.substr(0, 80) << ": " << r.message();
  }
  EXPECT_EQ(total(), before + static_cast<double>(hostile.size()));
  // Metadata over gRPC's 8 KiB limit never reaches the service: the call
  // fails at the transport.
  {
    auto channel = grpc::CreateChannel(server->addr(), grpc::InsecureChannelCredentials());
    auto stub = kv::Public::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-hooto-auth", std::string(20000, 'A'));
    kv::ObjectResult r;
    EXPECT_FALSE(stub->Query(&ctx, NewKeyReader("x"), &r).ok());
  }
  EXPECT_EQ(QueryWithToken(&good).status(), kvspec::kStatusNotFound);  // and the server still serves
}

TEST_F(ApiTest, MetricsAndHealthEndpoints) {
  auto live = HttpGet(server->http_port(), "/livez");
  EXPECT_EQ(live.first, 200);
  auto ready = HttpGet(server->http_port(), "/readyz");
  EXPECT_EQ(ready.first, 200);
  EXPECT_EQ(HttpGet(server->http_port(), "/nope").first, 404);
  auto count = [&](const std::string& series) {
    const std::string body = HttpGet(server->http_port(), "/metrics").second;
    size_t at = body.find("\n" + series + " ");
    return at == std::string::npos ? -1.0 : std::stod(body.substr(at + series.size() + 2));
  };
  const std::string commits = "kvgo_requests_total{rpc=\"Commit\",status=\"ok\"}";
  const double before = count(commits);
  ASSERT_GE(before, 0);
  for (int i = 0; i < 3; i++) ASSERT_EQ(Commit(NewWriter("metrics/" + std::to_string(i), "v")).status(), 1u);
  EXPECT_EQ(count(commits), before + 3);
  EXPECT_GT(count("kvgo_fsync_duration_seconds_count"), 0);
  EXPECT_GT(count("kvgo_disk_bytes"), 0);
  EXPECT_EQ(count("kvgo_cluster_is_leader"), 1);
  const double denied = count("kvgo_auth_failures_total{reason=\"missing_token\"}");
  QueryWithToken(nullptr);
  EXPECT_EQ(count("kvgo_auth_failures_total{reason=\"missing_token\"}"), denied + 1);
}

TEST_F(ApiTest, GrpcHealthService) {
  auto channel = grpc::CreateChannel(server->addr(), grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest (service "").
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::ByteBuffer req;  // empty message
  grpc::Slice empty("");
  req = grpc::ByteBuffer(&empty, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status st;
  grpc::ByteBuffer resp;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp, [&](grpc::Status s) {
    std::lock_guard l(mu);
    st = s;
    done = true;
    cv.notify_all();
  });
  std::unique_lock l(mu);
  cv.wait(l, [&] { return done; });
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));  // status: SERVING
}

TEST_F(ApiTest, ConcurrentClients) {
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      auto cl = server->NewClient();
      for (int i = 0; i < 50; i++) {
        kv::ObjectResult r;
        if (cl->Commit(NewWriter("cc/" + std::to_string(t) + "/" + std::to_string(i), "v"), &r).ok() &&
            r.status() == kvspec::kStatusOK) {
          ok++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 400);
  auto r = Query(NewRangeReader("cc/", "cc/", 1000));
  EXPECT_EQ(r.items_size(), 400);
}

}  // namespace
}  // namespace kvgo::testing
