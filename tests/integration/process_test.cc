// The binary as an operator meets it: command line, config errors, signals,
// crash durability (kill -9) and the static-binary promise (empty chroot).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/kvspec.h"
#include "server_process.h"

namespace kvgo::testing {
namespace {

namespace kv = lynkdb::kvspec::v2;
using client::NewKeyReader;
using client::NewWriter;

TEST(Process, VersionAndCheckConfig) {
  ServerProcess p("checkcfg");
  p.Start({"--version"});
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(10)), 0);
  EXPECT_NE(p.Log().find("kvgo-server "), std::string::npos);
  p.Start({"--help"});
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(10)), 0);
  EXPECT_NE(p.Log().find("  --check_config  validate the config"), std::string::npos) << p.Log();
  // Relative paths resolve against the binary's prefix (parent of bin/).
  std::string cfg = p.DefaultConfig();
  cfg.replace(cfg.find(p.prefix() + "/var/data"), p.prefix().size() + 9, "var/kvgo-relative");
  p.WriteConfig(cfg);
  p.Start({"--check-config"});
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(10)), 0);
  const auto bin_prefix = std::filesystem::path(ServerBinary()).parent_path().parent_path();
  EXPECT_NE(p.Log().find("data_directory = \"" + (bin_prefix / "var/kvgo-relative").string() + "\""), std::string::npos)
      << p.Log();
  EXPECT_FALSE(std::filesystem::exists(bin_prefix / "var/kvgo-relative"));
  EXPECT_EQ(p.Log().find(ServerProcess::kSecret), std::string::npos);  // masked
  EXPECT_FALSE(std::filesystem::exists(p.prefix() + "/var/data"));
}

TEST(Process, BadConfigExitsTwoAndTouchesNoData) {
  ServerProcess p("badcfg");
  p.WriteConfig(p.DefaultConfig() + "\n[performance]\nblock_cache_sise = 3\n");
  p.Start();
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(10)), 2);
  const std::string cfg = p.DefaultConfig();
  const int line = static_cast<int>(std::count(cfg.begin(), cfg.end(), '\n')) + 3;
  EXPECT_NE(p.Log().find("kvgo-server.conf:" + std::to_string(line) + ": performance.block_cache_sise: unknown key"),
            std::string::npos)
      << p.Log();
  EXPECT_FALSE(std::filesystem::exists(p.prefix() + "/var/data"));
  p.Start({"--check-config"});
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(10)), 2);
  ServerProcess q("nocfg");
  std::filesystem::remove(q.prefix() + "/etc/kvgo-server.conf");
  q.Start();
  EXPECT_EQ(q.WaitExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(q.Log().find("cannot read config file"), std::string::npos);

  // A bad command line: exit 2 too, before the config is read.
  ServerProcess f("badflag");
  f.Start({"--no-such-flag"});
  EXPECT_EQ(f.WaitExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(f.Log().find("unknown flag --no_such_flag"), std::string::npos) << f.Log();
  f.Start({"--config"});
  EXPECT_EQ(f.WaitExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(f.Log().find("missing the value for --config"), std::string::npos) << f.Log();

  // A cluster that does not list this node by its bind address: found by
  // the config check, not at the start after the data was created.
  ServerProcess c("notself");
  c.WriteConfig(c.DefaultConfig() + "\n[[cluster.masters]]\naddr = \"127.0.0.2:9100\"\nauth_secret_key = \"" +
                ServerProcess::kSecret + "\"\n");
  c.Start({"--check-config"});
  EXPECT_EQ(c.WaitExit(std::chrono::seconds(10)), 2);
  c.Start();
  EXPECT_EQ(c.WaitExit(std::chrono::seconds(10)), 2);
  EXPECT_NE(c.Log().find("cluster.masters: no entry has addr = server.bind"), std::string::npos) << c.Log();
  EXPECT_FALSE(std::filesystem::exists(c.prefix() + "/var/data"));
}

TEST(Process, PortInUseExitsOne) {
  ServerProcess a("port-a");
  a.Start();
  ASSERT_TRUE(a.WaitReady());
  ServerProcess b("port-b");
  b.WriteConfig("[storage]\ndata_directory = \"" + b.prefix() + "/var/data\"\n[server]\nbind = \"" + a.addr() +
                "\"\nauth_secret_key = \"" + ServerProcess::kSecret + "\"\nhttp_port = 0\n");
  b.Start();
  EXPECT_EQ(b.WaitExit(std::chrono::seconds(20)), 1) << b.Log();
  EXPECT_NE(b.Log().find("cannot listen on"), std::string::npos) << b.Log();
  EXPECT_EQ(a.Stop(SIGTERM), 0);
}

TEST(Process, SigtermIsCleanAndDataPersists) {
  ServerProcess p("sigterm");
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  kv::ObjectResult r;
  ASSERT_TRUE(c->Commit(NewWriter("persist", "yes"), &r).ok());
  ASSERT_EQ(r.status(), kvspec::kStatusOK);
  const uint64_t v1 = r.meta().version();
  EXPECT_EQ(p.Stop(SIGTERM), 0) << p.Log();
  EXPECT_NE(p.Log().find("shutdown complete"), std::string::npos);
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  ASSERT_TRUE(c->Query(NewKeyReader("persist"), &r).ok());
  ASSERT_EQ(r.status(), kvspec::kStatusOK);
  EXPECT_EQ(client::ValueString(r.items(0)), "yes");
  ASSERT_TRUE(c->Commit(NewWriter("persist2", "x"), &r).ok());
  EXPECT_GT(r.meta().version(), v1);  // versions only grow across restarts
  EXPECT_EQ(p.Stop(SIGINT), 0);
}

// Polls `pred` until it holds or `timeout` passes.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

uint64_t QueryStatus(client::Client* c) {
  kv::ObjectResult r;
  if (!c->Query(NewKeyReader("probe"), &r).ok()) return 0;
  return r.status();
}

TEST(Process, SighupReloadsSecretAndSurvivesBrokenConfig) {
  ServerProcess p("sighup");
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto old_client = p.NewClient();
  const std::string new_secret = "a-brand-new-secret-0123456789";
  auto new_client = p.NewClient(new_secret);
  ASSERT_EQ(QueryStatus(new_client.get()), kvspec::kStatusClientError);

  std::string cfg = p.DefaultConfig();
  cfg.replace(cfg.find(ServerProcess::kSecret), std::string(ServerProcess::kSecret).size(), new_secret);
  p.WriteConfig(cfg);
  p.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return QueryStatus(new_client.get()) == kvspec::kStatusNotFound; })) << p.Log();
  EXPECT_EQ(QueryStatus(old_client.get()), kvspec::kStatusClientError);  // old tokens refused

  // A broken file changes nothing.
  p.WriteConfig(cfg + "\n[bogus]\n");
  p.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return p.Log().find("reload failed") != std::string::npos; }));
  EXPECT_NE(p.Log().find("bogus: unknown section"), std::string::npos);
  EXPECT_EQ(QueryStatus(new_client.get()), kvspec::kStatusNotFound);

  // A changed bind is reported and not applied.
  std::string moved = cfg;
  moved.replace(moved.find(p.addr()), p.addr().size(), "127.0.0.1:1");
  p.WriteConfig(moved);
  p.Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return p.Log().find("need a restart") != std::string::npos; }));
  EXPECT_NE(p.Log().find("server.bind"), std::string::npos);
  EXPECT_EQ(QueryStatus(new_client.get()), kvspec::kStatusNotFound);
  EXPECT_EQ(p.Log().find(new_secret), std::string::npos);  // secrets never logged
  const std::string metrics = HttpGet(p.http_port(), "/metrics").second;
  EXPECT_NE(metrics.find("kvgo_config_reloads_total{result=\"ok\"} 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("kvgo_config_reloads_total{result=\"error\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("kvgo_auth_failures_total{reason=\"bad_signature\"}"), std::string::npos);
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

TEST(Process, KillNineLosesNoAcknowledgedWrite) {
  ServerProcess p("kill9");
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 8; t++) {
    writers.emplace_back([&, t] {
      auto c = p.NewClient();
      for (int i = 0; !stop; i++) {
        const std::string key = "k9/" + std::to_string(t) + "/" + std::to_string(i);
        kv::ObjectResult r;
        if (c->Commit(NewWriter(key, "value-of-" + key), &r).ok() && r.status() == kvspec::kStatusOK) {
          std::lock_guard lock(mu);
          acked.push_back(key);
        } else {
          break;  // the server is gone
        }
      }
    });
  }
  // Kill once enough writes were acknowledged (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (acked.size() >= 2000) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "too few writes acknowledged";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(p.Stop(SIGKILL), 128 + SIGKILL);
  stop = true;
  for (auto& w : writers) w.join();

  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  size_t missing = 0;
  for (size_t i = 0; i < acked.size(); i += 100) {
    kv::ObjectReader q;
    q.set_mode(kvspec::kReadModeKey);
    std::set<std::string> want;
    for (size_t j = i; j < std::min(acked.size(), i + 100); j++) {
      q.add_keys(acked[j]);
      want.insert(acked[j]);
    }
    kv::ObjectResult r;
    ASSERT_TRUE(c->Query(q, &r).ok());
    for (const auto& it : r.items()) {
      EXPECT_EQ(client::ValueString(it), "value-of-" + it.meta().key());
      want.erase(it.meta().key());
    }
    missing += want.size();
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

// systemd Type=notify: READY=1 arrives on $NOTIFY_SOCKET only once the port
// answers, STOPPING=1 on shutdown.
TEST(Process, QuotaRefusesWritesButNotDeletesOrReads) {
  ServerProcess p("quota");
  std::string cfg = p.DefaultConfig();
  cfg.replace(cfg.find("\n\n[server]"), 10, "\nquota_bytes = 1500000\n\n[server]");
  p.WriteConfig(cfg);
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  const std::string value(16 * 1024, 'q');
  lynkdb::kvspec::v2::ObjectResult r;
  int written = 0;
  std::string refusal;
  for (int i = 0; i < 400 && refusal.empty(); i++) {
    ASSERT_TRUE(c->Commit(client::NewWriter("q" + std::to_string(i), value), &r).ok());
    if (r.status() == kvspec::kStatusOK) {
      written++;
    } else {
      refusal = r.message();
      EXPECT_EQ(r.status(), kvspec::kStatusServerError);
    }
    if (i % 20 == 19) std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // usage is sampled each second
  }
  ASSERT_FALSE(refusal.empty()) << "6.4 MB written under a 1.5 MB quota";
  EXPECT_NE(refusal.find("storage quota exceeded"), std::string::npos) << refusal;
  EXPECT_GT(written, 40);
  // Reads and deletes still work.
  ASSERT_TRUE(c->Query(client::NewKeyReader("q0"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  lynkdb::kvspec::v2::ObjectWriter del;
  del.set_mode(kvspec::kWriteModeDelete);
  del.mutable_meta()->set_key("q0");
  ASSERT_TRUE(c->Commit(del, &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK) << r.message();
  ASSERT_TRUE(c->Query(client::NewKeyReader("q0"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusNotFound);
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

// A disk that fills up: a 64 MiB tmpfs (in a mount namespace of the
// server's own, so nothing is mounted on the host) with [storage]
// min_free_bytes = 27 MiB, the least the config takes at these LevelDB
// sizes. Writes are refused with a clear status before LevelDB could run
// out of space, reads and deletes go on, nothing is lost, and writes resume
// once space is freed, without a restart.
TEST(Process, DiskNearlyFullRefusesWritesAndResumesWhenSpaceIsFreed) {
  if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  ServerProcess p("diskfull");
  const std::string probe = "/usr/bin/unshare -m --propagation private /bin/sh -c 'mount -t tmpfs -o size=1m probe " +
                            p.prefix() + "/etc' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs in a mount namespace here";
  std::string cfg = p.DefaultConfig();
  cfg.replace(cfg.find("\n\n[server]"), 10, "\nmin_free_bytes = 28311552\n\n[server]");
  p.WriteConfig(cfg + "\n[performance]\nwrite_buffer_size = 1\nmax_table_size = 1\n");
  const std::string var = p.prefix() + "/var";
  std::filesystem::create_directories(var);
  p.StartArgv({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
               "mount -t tmpfs -o size=64m kvgo-diskfull " + var + " && exec " + ServerBinary() + " --config " +
                   p.prefix() + "/etc/kvgo-server.conf"});
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  // The tmpfs as the server sees it, through its mount namespace.
  const std::string seen = "/proc/" + std::to_string(p.pid()) + "/root" + var;
  struct statvfs st {};
  ASSERT_EQ(statvfs(seen.c_str(), &st), 0);
  const uint64_t free0 = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  ASSERT_GT(free0, 56u << 20) << "the data directory is not on the 64 MiB tmpfs";
  ASSERT_LT(free0, 65u << 20) << "the data directory is not on the 64 MiB tmpfs";
  // Leave about 31 MiB: 4 MiB above the reserve.
  std::ofstream(seen + "/ballast") << std::string(free0 - (31u << 20), 'b');

  auto c = p.NewClient();
  // Values snappy cannot shrink.
  auto value_of = [](const std::string& key) {
    std::mt19937_64 rng(std::hash<std::string>()(key));
    std::string v(8 * 1024, ' ');
    for (auto& ch : v) ch = static_cast<char>(rng());
    return v;
  };
  lynkdb::kvspec::v2::ObjectResult r;
  std::vector<std::string> written;
  std::string refusal;
  for (int i = 0; i < 4000 && refusal.empty(); i++) {
    const std::string key = "f" + std::to_string(i);
    ASSERT_TRUE(c->Commit(client::NewWriter(key, value_of(key)), &r).ok());
    if (r.status() == kvspec::kStatusOK) {
      written.push_back(key);
    } else {
      refusal = r.message();
      EXPECT_EQ(r.status(), kvspec::kStatusServerError);
    }
  }
  ASSERT_FALSE(refusal.empty()) << "32 MB written with 31 MiB free";
  EXPECT_NE(refusal.find("disk nearly full"), std::string::npos) << refusal;
  EXPECT_GT(written.size(), 100u);
  // Reads and deletes go on.
  ASSERT_TRUE(c->Query(client::NewKeyReader(written.back()), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  lynkdb::kvspec::v2::ObjectWriter del;
  del.set_mode(kvspec::kWriteModeDelete);
  del.mutable_meta()->set_key(written.front());
  ASSERT_TRUE(c->Commit(del, &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK) << r.message();
  written.erase(written.begin());

  // Space freed: writes resume by themselves.
  ASSERT_EQ(std::remove((seen + "/ballast").c_str()), 0);
  bool resumed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!resumed && std::chrono::steady_clock::now() < deadline) {
    resumed = c->Commit(client::NewWriter("after", "space"), &r).ok() && r.status() == kvspec::kStatusOK;
    if (!resumed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(resumed) << r.message();
  // Every acknowledged write is there, and LevelDB never failed a write.
  size_t missing = 0;
  for (const auto& key : written) {
    if (!c->Query(client::NewKeyReader(key), &r).ok() || r.status() != kvspec::kStatusOK ||
        client::ValueString(r.items(0)) != value_of(key)) {
      missing++;
    }
  }
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(p.Log().find("storage write failed"), std::string::npos) << p.Log();
  EXPECT_EQ(p.Stop(SIGTERM), 0) << p.Log();
}

// A damaged data file at startup: the server refuses to start, names the
// file and changes nothing (docs: README "Troubleshooting").
TEST(Process, CorruptDataFileIsNamedAndNothingIsRepaired) {
  // A damaged manifest or write-ahead log fails LevelDB's open; a damaged
  // table shows only when it is read, and the start then finds it.
  for (const std::string target : {"MANIFEST", ".log", ".ldb"}) {
    ServerProcess p("corrupt");
    p.Start();
    ASSERT_TRUE(p.WaitReady()) << p.Log();
    auto c = p.NewClient();
    lynkdb::kvspec::v2::ObjectResult r;
    for (int i = 0; i < 20; i++) {
      ASSERT_TRUE(c->Commit(client::NewWriter("c" + std::to_string(i), std::string(200, 'c')), &r).ok());
    }
    ASSERT_EQ(p.Stop(SIGTERM), 0);
    if (target == ".ldb") {  // the next open writes the log's records into a table
      p.Start();
      ASSERT_TRUE(p.WaitReady()) << p.Log();
      ASSERT_EQ(p.Stop(SIGTERM), 0);
    }
    const std::string dir = p.prefix() + "/var/data";
    std::string victim;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.find(target) != std::string::npos) victim = e.path().string();
    }
    ASSERT_FALSE(victim.empty()) << target;
    const auto size = std::filesystem::file_size(victim);
    ASSERT_GT(size, 40u);
    {
      std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
      if (target == ".ldb") {  // every block but the footer: whatever the start reads is damaged
        std::string bytes(size - 48, '\0');
        f.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        for (char& b : bytes) b = static_cast<char>(b ^ 0x5a);
        f.seekp(0);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      } else {
        f.seekp(static_cast<std::streamoff>(size / 2));
        f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
      }
    }
    const auto before = std::filesystem::file_size(victim);
    p.Start();
    EXPECT_EQ(p.WaitExit(std::chrono::seconds(20)), 1) << p.Log();
    const std::string log = p.Log();
    EXPECT_NE(log.find("Corruption"), std::string::npos) << log;
    EXPECT_NE(log.find("the damaged file is " + victim), std::string::npos) << log;
    EXPECT_NE(log.find("never repairs"), std::string::npos) << log;
    EXPECT_EQ(std::filesystem::file_size(victim), before);  // nothing repaired or rewritten
  }
}

// 10,000 TCP connections opened at once (some stalled half-way through the
// HTTP/2 preface) and then dropped (half with a reset): the server keeps
// serving the others throughout and gives the descriptors back.
TEST(Process, TenThousandConnectionsOpenedAndDropped) {
  constexpr int kConns = 10000;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max < kConns + 2000) GTEST_SKIP() << "needs RLIMIT_NOFILE >= " << kConns + 2000;
  lim.rlim_cur = lim.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);  // the server inherits it too

  ServerProcess p("conns");
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  lynkdb::kvspec::v2::ObjectResult r;
  auto serves = [&](const std::string& key) {
    return c->Commit(client::NewWriter(key, "v"), &r).ok() && r.status() == kvspec::kStatusOK;
  };
  ASSERT_TRUE(serves("before"));
  auto fds = [&] { return MetricValue(HttpGet(p.http_port(), "/metrics").second, "process_open_fds"); };
  const double fds_before = fds();

  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(p.port()));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  std::vector<int> socks;
  socks.reserve(kConns);
  for (int i = 0; i < kConns; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0) << "socket " << i << ": " << std::strerror(errno);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));  // EINPROGRESS
    socks.push_back(fd);
    if (i % 1000 == 999) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let accept() keep up
  }
  // The server holds them all (accepted, each a descriptor).
  double peak = 0;
  const auto accept_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < accept_deadline && (peak = fds()) < fds_before + kConns * 0.95) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_GE(peak, fds_before + kConns * 0.95) << "the server accepted only " << peak - fds_before;
  // Some stall in the middle of the HTTP/2 connection preface.
  for (int i = 0; i < 100; i++) (void)!write(socks[i], "PRI * HTTP/2.0\r\n", 16);
  // The server serves a normal client meanwhile.
  ASSERT_TRUE(serves("during")) << "the server stopped serving with 10,000 idle connections open";
  // Drop them: half with a reset, half with a FIN.
  for (size_t i = 0; i < socks.size(); i++) {
    if (i % 2 == 0) {
      linger l{1, 0};
      setsockopt(socks[i], SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(socks[i]);
  }
  ASSERT_TRUE(serves("after"));
  // The descriptors come back (within a margin for gRPC's own).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline && fds() > fds_before + 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_LE(fds(), fds_before + 50);
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

// A soft open-file limit below [performance] max_open_files + room for
// the server and its connections ([limits] max_connections, by default
// 10000) is raised up to the hard limit; when the hard limit is short too,
// the server still starts and says what to change.
TEST(Process, OpenFileLimitIsRaisedOrWarnedAbout) {
  auto soft_limit = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Max open files", 0) == 0) return std::stol(line.substr(26));
    }
    return -1L;
  };
  ServerProcess p("nofile");
  p.WriteConfig(p.DefaultConfig() + "\n[performance]\nmax_open_files = 400\n");
  const std::string run = "exec " + ServerBinary() + " --config " + p.prefix() + "/etc/kvgo-server.conf";
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= 10528) {
    p.StartArgv({"/bin/sh", "-c", "ulimit -Sn 300 && " + run});
    ASSERT_TRUE(p.WaitReady()) << p.Log();
    EXPECT_EQ(soft_limit(p.pid()), 10528) << p.Log();  // 400 + 128 + 10000
    EXPECT_NE(p.Log().find("raised the open-file limit from 300 to 10528"), std::string::npos) << p.Log();
    EXPECT_EQ(p.Stop(SIGTERM), 0);
  }
  p.StartArgv({"/bin/sh", "-c", "ulimit -n 300 && " + run});  // soft and hard
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  EXPECT_EQ(soft_limit(p.pid()), 300);
  EXPECT_NE(p.Log().find("the open-file limit is 300 (hard limit 300), below [performance] max_open_files 400"),
            std::string::npos)
      << p.Log();
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

TEST(Process, NotifiesSystemdWhenReady) {
  ServerProcess p("notify");
  const std::string path = p.prefix() + "/notify.sock";
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  p.Start();
  unsetenv("NOTIFY_SOCKET");
  char buf[256];
  ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
  ASSERT_GT(n, 0) << "no READY=1 within 20 s\n" << p.Log();
  EXPECT_EQ(std::string(buf, n).rfind("READY=1", 0), 0u);
  // The port answers now, without waiting or retrying.
  auto c = p.NewClient();
  kv::ObjectResult r;
  ASSERT_TRUE(c->Query(NewKeyReader("x"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusNotFound);
  p.Signal(SIGTERM);
  n = recv(fd, buf, sizeof(buf) - 1, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "STOPPING=1");
  EXPECT_EQ(p.WaitExit(std::chrono::seconds(20)), 0);
  close(fd);
}

TEST(Process, StartsInAnEmptyChroot) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  ServerProcess p("chroot");
  const std::string root = p.prefix() + "/root";
  std::filesystem::create_directories(root);
  std::filesystem::copy_file(ServerBinary(), root + "/kvgo-server");
  std::ofstream(root + "/kvgo.conf") << "[storage]\ndata_directory = \"/data\"\n[server]\nbind = \"" << p.addr()
                                     << "\"\nauth_secret_key = \"" << ServerProcess::kSecret
                                     << "\"\nhttp_port = " << p.http_port() << "\n";
  // Nothing else in the root: no libc, no loader, no /etc, no /proc.
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root)) entries++;
  ASSERT_EQ(entries, 2u);
  const char* chroot_bin = access("/usr/sbin/chroot", X_OK) == 0 ? "/usr/sbin/chroot" : "/usr/bin/chroot";
  p.StartArgv({chroot_bin, root, "/kvgo-server", "--config", "/kvgo.conf"});
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  kv::ObjectResult r;
  ASSERT_TRUE(c->Commit(NewWriter("chroot", "works"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  ASSERT_TRUE(c->Query(NewKeyReader("chroot"), &r).ok());
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  auto [code, body] = HttpGet(p.http_port(), "/metrics");
  EXPECT_EQ(code, 200);
  EXPECT_NE(body.find("kvgo_requests_total{rpc=\"Commit\",status=\"ok\"} 1"), std::string::npos);
  EXPECT_EQ(p.Stop(SIGTERM), 0) << p.Log();
  EXPECT_TRUE(std::filesystem::exists(root + "/data/CURRENT"));
}

}  // namespace
}  // namespace kvgo::testing
