#include "config/settings.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/seed_configs_test.h"

namespace kvgo {
namespace {

constexpr char kSecretLine[] = "auth_secret_key = \"the-secret-key-of-server\"\n";

// A valid single-node config with `key = value` in `section`.
std::string With(const std::string& section, const std::string& key, const std::string& value) {
  const std::string line = key + " = " + value + "\n";
  if (section == "server") return "[server]\n" + std::string(kSecretLine) + line;
  return "[server]\n" + std::string(kSecretLine) + "[" + section + "]\n" + line;
}

std::string ParseError(const std::string& text) {
  auto c = ParseConfig(text, "t.conf", "/p");
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? "" : std::string(c.status().message());
}

// Every plain key of the table is read into its field, and a value out of
// its range is refused with the key's name.
TEST(Settings, EveryPlainKeyIsParsedAndRangeChecked) {
  for (const Setting& s : Settings()) {
    if (s.by_hand) continue;
    std::string good, bad;
    switch (s.type) {
      case SettingType::kInt:
      case SettingType::kBytes:
        good = std::to_string(s.min + 1);
        bad = s.type == SettingType::kInt ? std::to_string(s.max + 1) : std::to_string(s.min - 1);
        break;
      case SettingType::kChoice:
        good = "\"" + std::string(s.choices).substr(0, std::string(s.choices).find('|')) + "\"";
        bad = "\"no-such-choice\"";
        break;
      case SettingType::kAddr:
        good = "\"127.0.0.1:9100\"", bad = "\"127.0.0.1\"";
        break;
      case SettingType::kSecret:
        good = "\"a-good-secret-0123456789\"", bad = "\"short\"";
        break;
      default:
        good = "\"/abs/value\"", bad = "7";
        break;
    }
    // The cross-key rules: election_timeout_ms >= 3 x heartbeat_ms; a
    // min_free_bytes above 0 leaves room for LevelDB's compactions.
    if (s.Name() == "cluster.heartbeat_ms") good = "20";
    if (s.Name() == "cluster.election_timeout_ms") good = "300";
    if (s.Name() == "storage.min_free_bytes") good = "0";
    if (s.Name() == "performance.write_buffer_size" || s.Name() == "performance.max_table_size") good = "1";
    auto c = ParseConfig(With(s.section, s.key, good), "t.conf", "/p");
    ASSERT_TRUE(c.ok()) << s.Name() << " = " << good << ": " << c.status();
    EXPECT_EQ(ShowSetting(s, *c),
              s.type == SettingType::kSecret ? TomlQuote(MaskSecret("a-good-secret-0123456789")) : good)
        << s.Name();
    if (s.type == SettingType::kBytes && s.min == 0) continue;  // no value is too small
    const std::string e = ParseError(With(s.section, s.key, bad));
    EXPECT_NE(e.find(s.Name() + ": "), std::string::npos) << e;
  }
}

// The README's reference is the table's.
TEST(Settings, ReadmeShowsTheTable) {
  std::ifstream in(KVGO_README);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const std::string begin = "<!-- config reference: begin -->\n", end = "<!-- config reference: end -->";
  const size_t b = readme.find(begin), e = readme.find(end);
  ASSERT_NE(b, std::string::npos) << KVGO_README;
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(readme.substr(b + begin.size(), e - b - begin.size()), ReferenceTable())
      << "README.md's config reference differs from the table: replace it with `bin/kvgo-server --config-reference`";
}

TEST(Settings, ReloadAppliesLiveKeysAndReportsTheRest) {
  auto running = ParseConfig(kSeedCluster01, "t.conf", "/p");
  ASSERT_TRUE(running.ok()) << running.status();
  std::string text = kSeedCluster01;
  auto replace = [&](const std::string& from, const std::string& to) {
    ASSERT_NE(text.find(from), std::string::npos) << from;
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
  };
  replace("the-secret-key-of-server-01", "a-new-secret-of-server-01");
  text = "[log]\nlevel = \"debug\"\n[cluster]\nheartbeat_ms = 50\n" + text;
  replace("write_buffer_size = 8", "write_buffer_size = 16");
  auto loaded = ParseConfig(text, "t.conf", "/p");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  Config next;
  const std::vector<std::string> restart = PlanReload(*running, *loaded, &next);
  // min_free_bytes's default follows write_buffer_size.
  EXPECT_EQ(restart, (std::vector<std::string>{"storage.min_free_bytes", "performance.write_buffer_size",
                                               "cluster.heartbeat_ms"}));
  EXPECT_EQ(next.root_secret, "a-new-secret-of-server-01");
  EXPECT_EQ(next.masters[0].secret, "a-new-secret-of-server-01");
  EXPECT_EQ(next.log_level, "debug");
  EXPECT_EQ(next.write_buffer_size_mib, 8);  // restart-only: the old value
  EXPECT_EQ(next.heartbeat_ms, 100);

  // A changed member list needs a restart, and its secrets wait for it.
  text = kSeedCluster01;
  replace("127.0.0.3:9100", "127.0.0.4:9100");
  replace("the-secret-key-of-server-02", "a-new-secret-of-server-02");
  loaded = ParseConfig(text, "t.conf", "/p");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(PlanReload(*running, *loaded, &next), std::vector<std::string>{"cluster.masters"});
  EXPECT_EQ(next.masters[1].secret, running->masters[1].secret);
  EXPECT_EQ(next.masters[2].addr, "127.0.0.3:9100");
}

// What --check-config prints reads back as the same configuration.
TEST(Settings, EffectiveConfigReadsBack) {
  auto c = ParseConfig(With("limits", "max_connections", "77") + "[log]\nlevel = \"warn\"\n", "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string toml = c->ToToml();
  std::string with_secret = toml;
  const std::string masked = TomlQuote(MaskSecret(c->root_secret));
  with_secret.replace(with_secret.find(masked), masked.size(), TomlQuote(c->root_secret));
  auto again = ParseConfig(with_secret, "printed.conf", "/p");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << toml;
  EXPECT_EQ(again->ToToml().substr(again->ToToml().find('\n')), toml.substr(toml.find('\n')));
  EXPECT_EQ(again->max_connections, 77);
  EXPECT_EQ(again->log_level, "warn");
}

}  // namespace
}  // namespace kvgo
