// kvgo-cli as a user runs it: the real binary against the real server.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/kvspec.h"
#include "server_process.h"

namespace kvgo::testing {
namespace {

struct Output {
  int rc;
  std::string out;
  std::string err;
};

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server = new ServerProcess("cli");
    server->Start();
    ASSERT_TRUE(server->WaitReady()) << server->Log();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server->Stop(SIGTERM), 0);
    delete server;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Runs kvgo-cli with `args` (shell words), `input` on stdin.
  Output Cli(const std::string& args, const std::string& input = "",
             const std::string& env = "KVGO_SECRET=" + std::string(ServerProcess::kSecret)) {
    const std::string dir = server->prefix();
    std::ofstream(dir + "/cli.in") << input;
    const std::string cmd = "env HOME=" + dir + " KVGO_ADDR=" + server->addr() + " " + env + " " + KVGO_CLI_BIN + " " +
                            args + " < " + dir + "/cli.in > " + dir + "/cli.out 2> " + dir + "/cli.err";
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(dir + "/cli.out"), Slurp(dir + "/cli.err")};
  }
  static ServerProcess* server;
};
ServerProcess* CliTest::server = nullptr;

TEST_F(CliTest, PutGetDelAndExitCodes) {
  auto put = Cli("put greeting 'hello world'");
  EXPECT_EQ(put.rc, 0) << put.err;
  EXPECT_EQ(put.out.rfind("OK version ", 0), 0u);
  auto get = Cli("get greeting");
  EXPECT_EQ(get.rc, 0);
  EXPECT_EQ(get.out, "hello world\n");
  auto json = Cli("--json get greeting");
  EXPECT_NE(json.out.find("\"value\":\"hello world\""), std::string::npos) << json.out;
  EXPECT_EQ(Cli("get nothing-here").rc, 1);
  EXPECT_EQ(Cli("put only-once a --create").rc, 0);
  EXPECT_EQ(Cli("put only-once b --create").rc, 0);
  EXPECT_EQ(Cli("get only-once").out, "a\n");  // Create keeps the first value
  EXPECT_EQ(Cli("del greeting").rc, 0);
  EXPECT_EQ(Cli("get greeting").rc, 1);
  EXPECT_EQ(Cli("frobnicate").rc, 2);
  EXPECT_EQ(Cli("get").rc, 2);
  auto denied = Cli("get x", "", "KVGO_SECRET=not-the-secret-0123456789");
  EXPECT_EQ(denied.rc, 4);
  EXPECT_NE(denied.err.find("Access Denied"), std::string::npos);
  EXPECT_EQ(Cli("--addr 127.0.0.1:1 --timeout_ms 500 get x").rc, 3);
  EXPECT_EQ(Cli("get x", "", "KVGO_SECRET=").rc, 2);  // no secret at all
  // --help and -h: the usage and every flag of kvgo-cli, exit 0.
  for (const char* help : {"--help", "-h"}) {
    auto h = Cli(help);
    EXPECT_EQ(h.rc, 0) << help;
    EXPECT_NE(h.out.find("usage: kvgo-cli"), std::string::npos) << h.out;
    EXPECT_NE(h.out.find("  --tls_server_name  "), std::string::npos) << h.out;
    EXPECT_EQ(h.out.find("No flags matched"), std::string::npos) << h.out;
  }
}

TEST_F(CliTest, ScanPagesAndCounts) {
  std::string lines;
  for (int i = 0; i < 2500; i++) lines += "scan/" + std::to_string(10000 + i) + "\tv" + std::to_string(i) + "\n";
  auto load = Cli("load -", lines);
  EXPECT_EQ(load.rc, 0) << load.err;
  EXPECT_NE(load.out.find("loaded 2500 keys"), std::string::npos) << load.out;
  auto scan = Cli("scan scan/");
  EXPECT_EQ(scan.rc, 0);
  EXPECT_EQ(std::count(scan.out.begin(), scan.out.end(), '\n'), 2500);  // paged past 1000
  EXPECT_EQ(Cli("scan scan/ --count").out, "2500\n");
  auto rev = Cli("scan scan/ --reverse --limit=2");
  EXPECT_EQ(rev.out, "scan/12499\tv2499\nscan/12498\tv2498\n");
  auto bad = Cli("load -", "no-tab-here\n");
  EXPECT_EQ(bad.rc, 4);
  EXPECT_NE(bad.err.find("line 1: no TAB"), std::string::npos);
}

TEST_F(CliTest, TablesKeysStatusCheck) {
  EXPECT_EQ(Cli("table set cli-table 'a table'").out, "OK 101\n");
  auto list = Cli("table list");
  EXPECT_NE(list.out.find("cli-table"), std::string::npos);
  EXPECT_EQ(Cli("--table cli-table put k v").rc, 0);
  EXPECT_EQ(Cli("--table cli-table get k").out, "v\n");
  EXPECT_EQ(Cli("--table no-table get k").rc, 4);
  auto short_name = Cli("table set t1");
  EXPECT_EQ(short_name.rc, 4);
  EXPECT_NE(short_name.err.find("invalid table name (4 to 64 characters"), std::string::npos) << short_name.err;
  auto made = Cli("key set --role=client --tables=cli-table");
  EXPECT_EQ(made.rc, 0) << made.err;
  // It prints the new key's id and secret, and they work.
  std::istringstream words(made.out);
  std::string ok, id_word, id, secret_word, secret;
  words >> ok >> id_word >> id >> secret_word >> secret;
  EXPECT_EQ(ok + id_word + secret_word, "OKidsecret") << made.out;
  EXPECT_EQ(id.size(), 16u) << made.out;
  EXPECT_EQ(secret.size(), 40u) << made.out;
  auto keys = Cli("key list");
  EXPECT_NE(keys.out.find("kvgo/table=cli-table"), std::string::npos) << keys.out;
  EXPECT_NE(keys.out.find(id), std::string::npos) << keys.out;
  auto as_key = Cli("--key_id " + id + " --table cli-table get k", "", "KVGO_SECRET=" + secret);
  EXPECT_EQ(as_key.rc, 0) << as_key.err;
  EXPECT_EQ(as_key.out, "v\n");
  auto status = Cli("status");
  EXPECT_NE(status.out.find(server->addr()), std::string::npos);
  auto check = Cli("check");
  EXPECT_EQ(check.rc, 0);
  EXPECT_NE(check.out.find("authenticated"), std::string::npos);
  EXPECT_EQ(Cli("incr users u1").out, "101\n");
  EXPECT_EQ(Cli("incr users u2").out, "102\n");
}

TEST_F(CliTest, InteractivePromptAndHistory) {
  auto r = Cli("", "put p1 'one two'\nget p1\nget --json p1\nscan p --limit=1\nquit\n");
  EXPECT_NE(r.out.find("one two\n"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("\"value\":\"one two\""), std::string::npos);
  EXPECT_NE(r.out.find("p1\tone two"), std::string::npos);
  // --json applied to one command only
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '{'), 1);
  const std::string history = Slurp(server->prefix() + "/.kvgo_cli_history");
  // libedit's format: a header line, then one entry a line, blanks as \040.
  EXPECT_NE(history.find("get\\040p1"), std::string::npos) << history;
}

TEST_F(CliTest, ConfigFileGivesAddressAndSecret) {
  auto r = Cli("--config " + server->prefix() + "/etc/kvgo-server.conf put from-config yes", "", "KVGO_SECRET=");
  EXPECT_EQ(r.rc, 0) << r.err;
}

// kvgo-bench against the real server: every case runs without errors, the
// report holds each case with sane latencies and the server's peak RSS,
// and what the write cases wrote is in the store.
TEST_F(CliTest, BenchRunsEveryCaseAndItsWritesAreStored) {
  const std::string dir = server->prefix();
  auto bench = [&](const std::string& args) {
    const std::string cmd = std::string(KVGO_BENCH_BIN) + " --addr " + server->addr() + " " + args + " > " + dir +
                            "/bench.out 2> " + dir + "/bench.err";
    int status = std::system(cmd.c_str());
    return Output{WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(dir + "/bench.out"), Slurp(dir + "/bench.err")};
  };
  auto run = bench("--secret " + std::string(ServerProcess::kSecret) +
                   " --seconds 0.5 --clients 1,3 --value_size 100 --json " + dir + "/bench.json --server_pid " +
                   std::to_string(server->pid()));
  ASSERT_EQ(run.rc, 0) << run.out << run.err;
  const auto report = nlohmann::json::parse(Slurp(dir + "/bench.json"));
  ASSERT_EQ(report["cases"].size(), 8u) << report.dump();
  for (const auto& c : report["cases"]) {
    EXPECT_GT(c["ops"].get<uint64_t>(), 0u) << c.dump();
    EXPECT_EQ(c["errors"].get<uint64_t>(), 0u) << c.dump();
    EXPECT_LE(c["p50_ms"].get<double>(), c["p99_ms"].get<double>()) << c.dump();
    EXPECT_LE(c["p99_ms"].get<double>(), c["max_ms"].get<double>()) << c.dump();
  }
  EXPECT_GT(report["server_peak_rss_mib"].get<double>(), 1.0);
  EXPECT_NE(run.out.find("rand-read"), std::string::npos) << run.out;

  // The first sequential write's key, with a value of --value_size bytes.
  auto client = server->NewClient();
  lynkdb::kvspec::v2::ObjectResult got;
  ASSERT_TRUE(client->Query(client::NewKeyReader("kvgo-bench-" + std::string(29, '0')), &got).ok());
  ASSERT_EQ(got.status(), kvspec::kStatusOK) << got.message();
  ASSERT_EQ(got.items_size(), 1);
  EXPECT_EQ(got.items(0).data().value().size(), 100u);

  // Bad flags are refused before any request, wrong secrets with the server's answer.
  const std::string secret = " --secret " + std::string(ServerProcess::kSecret) + " --json '' ";
  for (const std::string bad :
       {"--cases seq-write,frob", "--clients 1,x", "--clients 0", "--seconds 0", "--value_size 0", "--threads 0"}) {
    auto r = bench(secret + bad);
    EXPECT_EQ(r.rc, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("kvgo-bench: "), std::string::npos) << bad;
  }
  auto denied = bench("--secret not-the-secret-0123456789 --seconds 0.2 --clients 1 --json ''");
  EXPECT_EQ(denied.rc, 1);
  EXPECT_NE(denied.err.find("Access Denied"), std::string::npos) << denied.err;
  auto help = bench("--help");
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("  --tls_server_name  "), std::string::npos) << help.out;
}

}  // namespace
}  // namespace kvgo::testing
