// Every metric the Grafana dashboard and the alert rules use is exported by
// a running server (monitoring/).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "common/kvspec.h"
#include "server_process.h"

namespace kvgo::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Series names a scrape exposes, from its "# TYPE name type" lines.
std::set<std::string> Exported(const std::string& text) {
  std::set<std::string> names;
  std::regex type_re(R"(# TYPE (\S+) (\S+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), type_re); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[1];
    names.insert(name);
    if ((*it)[2] == "histogram") {
      for (const char* s : {"_bucket", "_sum", "_count"}) names.insert(name + s);
    }
  }
  return names;
}

std::set<std::string> Used(const std::string& text) {
  std::set<std::string> names;
  std::regex re(R"(\b((kvgo|process)_[a-z0-9_]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

TEST(Monitoring, DashboardAndRulesUseOnlyExportedMetrics) {
  ServerProcess p("monitoring");
  p.Start();
  ASSERT_TRUE(p.WaitReady()) << p.Log();
  auto c = p.NewClient();
  lynkdb::kvspec::v2::ObjectResult r;
  ASSERT_TRUE(c->Commit(client::NewWriter("k", "v"), &r).ok());
  auto [code, body] = HttpGet(p.http_port(), "/metrics");
  ASSERT_EQ(code, 200);
  const std::set<std::string> exported = Exported(body);
  ASSERT_GT(exported.size(), 20u);

  const std::string dashboard = Slurp(std::string(KVGO_SOURCE_DIR) + "/monitoring/grafana/kvgo-server.json");
  const std::string alerts = Slurp(std::string(KVGO_SOURCE_DIR) + "/monitoring/prometheus/alerts.yml");
  auto dash = nlohmann::json::parse(dashboard);  // throws on invalid JSON
  std::string exprs;
  for (const auto& panel : dash["panels"]) {
    for (const auto& t : panel["targets"]) exprs += t["expr"].get<std::string>() + "\n";
  }
  ASSERT_GT(dash["panels"].size(), 10u);
  const auto used_dash = Used(exprs);
  const auto used_alerts = Used(alerts);
  EXPECT_GT(used_dash.size(), 15u);
  EXPECT_GT(used_alerts.size(), 5u);
  for (const auto& set : {used_dash, used_alerts}) {
    for (const auto& name : set) EXPECT_TRUE(exported.count(name)) << name << " is used but not exported";
  }
  EXPECT_EQ(p.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace kvgo::testing
