#include "config/settings.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace kvgo {
namespace {

constexpr bool kLive = true;
constexpr bool kRestart = false;
constexpr int64_t kMiB = int64_t{1} << 20;

Setting Row(const char* section, const char* key, SettingType type, bool live, const char* help) {
  Setting s;
  s.section = section;
  s.key = key;
  s.type = type;
  s.live = live;
  s.help = help;
  return s;
}

Setting Str(const char* section, const char* key, SettingType type, std::string Config::*f, bool live,
            const char* help) {
  Setting s = Row(section, key, type, live, help);
  s.field = f;
  return s;
}

Setting Int(const char* section, const char* key, int Config::*f, int64_t lo, int64_t hi, bool live, const char* help) {
  Setting s = Row(section, key, SettingType::kInt, live, help);
  s.field = f;
  s.min = lo;
  s.max = hi;
  return s;
}

Setting Bytes(const char* section, const char* key, uint64_t Config::*f, int64_t lo, bool live, const char* help) {
  Setting s = Row(section, key, SettingType::kBytes, live, help);
  s.field = f;
  s.min = lo;
  return s;
}

Setting Default(Setting s, const char* text) {
  s.default_text = text;
  return s;
}

Setting ByHand(Setting s) {
  s.by_hand = true;
  return s;
}

Setting Array(Setting s) {
  s.array = true;
  return s;
}

// [server.auth_tls_cert]: the PEM's source is a path or "(inline)".
template <std::string TlsConfig::*Pem, std::string TlsConfig::*Source, bool kFile>
Setting Tls(const char* key, const char* help) {
  Setting s = Row("server.auth_tls_cert", key, SettingType::kPems, kRestart, help);
  s.by_hand = true;
  if (kFile) s.same = [](const Config& a, const Config& b) { return a.tls.*Pem == b.tls.*Pem; };
  s.show = [](const Config& c) -> std::string {
    const std::string& src = c.tls.*Source;
    if (src.empty() || (src == "(inline)") == kFile) return "";
    return kFile ? TomlQuote(src) : "\"(inline PEM)\"";
  };
  return s;
}

bool SameAddrs(const Config& a, const Config& b) {
  if (a.masters.size() != b.masters.size()) return false;
  for (size_t i = 0; i < a.masters.size(); i++) {
    if (a.masters[i].addr != b.masters[i].addr) return false;
  }
  return true;
}

std::vector<Setting> MakeSettings() {
  using T = SettingType;
  std::vector<Setting> v;
  // [storage]
  Setting dir = Str("storage", "data_directory", T::kPath, &Config::data_directory, kRestart,
                    "LevelDB directory (in a cluster also the Paxos WAL, in its `paxos/` subdirectory)");
  dir.min = 1;
  v.push_back(dir);
  v.push_back(Bytes("storage", "quota_bytes", &Config::quota_bytes, 0, kRestart,
                    "space quota of the data directory (0 = none): past it, writes get status 5 `storage quota "
                    "exceeded: ...` while reads and deletes still work; near it, the server compacts LevelDB (at "
                    "most once a minute) so that deleted data frees space by itself"));
  v.push_back(Default(
      Bytes("storage", "min_free_bytes", &Config::min_free_bytes, 0, kRestart,
            "free space the data directory's filesystem keeps: below it, writes other than deletes get status 5 "
            "`disk nearly full: ...` (below a quarter of it, deletes too) while reads go on; writes resume by "
            "themselves once space is freed; `0` = no check. A value above 0 but below the default's formula is "
            "refused: with less, LevelDB could fill the disk to the last byte, and then not even a delete could "
            "free space"),
      "2 x `write_buffer_size` + 25 x `max_table_size` (216 MiB at the defaults: a memtable flush and LevelDB's "
      "largest compaction)"));
  // [server]
  v.push_back(Str("server", "bind", T::kAddr, &Config::bind, kRestart,
                  "gRPC listen address (`[v6]:port` too); the server listens on exactly this address"));
  v.push_back(Default(ByHand(Str("server", "auth_secret_key", T::kSecret, &Config::root_secret, kLive,
                                 "the root secret; clients sign with it as key id `00000000`")),
                      "required"));
  v.push_back(Int("server", "http_port", &Config::http_port, 0, 65535, kRestart,
                  "HTTP port for `/metrics`, `/livez`, `/readyz` on the bind host (`0` = off)"));
  v.push_back(ByHand(Str("server.access_key", "id", T::kString, &Config::root_key_id, kLive,
                         "kvgo-server 1.x spelling: the root key's id (at least 4 characters)")));
  Setting ak_secret = Default(
      Row("server.access_key", "secret", T::kSecret, kLive, "kvgo-server 1.x spelling of `[server] auth_secret_key`"),
      "none");
  ak_secret.by_hand = true;
  v.push_back(ak_secret);
  // [server.auth_tls_cert]
  v.push_back(Default(Tls<&TlsConfig::cert_pem, &TlsConfig::cert_source, true>(
                          "server_cert_file",
                          "TLS on the gRPC port: this server's PEM certificate (chain); see "
                          "[TLS](#tls)"),
                      "none (plaintext)"));
  v.push_back(Default(Tls<&TlsConfig::cert_pem, &TlsConfig::cert_source, false>(
                          "server_cert_data", "the same, inline (instead of `server_cert_file`)"),
                      "none"));
  v.push_back(Default(Tls<&TlsConfig::key_pem, &TlsConfig::key_source, true>(
                          "server_key_file", "the certificate's private key, PEM, unencrypted"),
                      "none"));
  v.push_back(Default(Tls<&TlsConfig::key_pem, &TlsConfig::key_source, false>(
                          "server_key_data", "the same, inline (instead of `server_key_file`)"),
                      "none"));
  v.push_back(Default(Tls<&TlsConfig::ca_pem, &TlsConfig::ca_source, true>(
                          "ca_cert_file",
                          "the CA that signed every master's certificate: mutual TLS between the "
                          "masters; required in cluster mode with TLS"),
                      "none"));
  v.push_back(Default(Tls<&TlsConfig::ca_pem, &TlsConfig::ca_source, false>(
                          "ca_cert_data", "the same, inline (instead of `ca_cert_file`)"),
                      "none"));
  // [performance]
  v.push_back(Int("performance", "write_buffer_size", &Config::write_buffer_size_mib, 1, 1024, kRestart,
                  "MiB, LevelDB write buffer (memtable)"));
  v.push_back(Int("performance", "block_cache_size", &Config::block_cache_size_mib, 0, 65536, kRestart,
                  "MiB, LevelDB block cache"));
  v.push_back(Int("performance", "max_table_size", &Config::max_table_size_mib, 1, 1024, kRestart,
                  "MiB, LevelDB table (sst) file size"));
  v.push_back(Int("performance", "max_open_files", &Config::max_open_files, 64, 1000000, kRestart,
                  "LevelDB open file limit. At start the server raises its soft open-file limit (`ulimit -n`) to "
                  "this plus 128 for itself plus `[limits] max_connections` (10,000 when unset), up to the hard "
                  "limit; what it cannot get lowers the connections the port takes, and it says so"));
  // [feature]
  Setting compress = Str("feature", "table_compress_name", T::kChoice, &Config::table_compress_name, kRestart,
                         "compression of LevelDB's tables");
  compress.choices = "snappy|none";
  v.push_back(compress);
  // [limits]
  v.push_back(Default(Int("limits", "max_connections", &Config::max_connections, 0, 10000000, kRestart,
                          "connections the gRPC port holds at once; one more is closed as soon as it is accepted "
                          "(the masters' own addresses get 64 more); `0` = the default. See [Limits](#limits)"),
                      "what the open-file limit leaves room for, at most 10,000"));
  v.push_back(Int("limits", "max_in_flight_requests", &Config::max_in_flight_requests, 1, 10000000, kRestart,
                  "calls being handled at once (LogRange long-polls included); more get `RESOURCE_EXHAUSTED`"));
  v.push_back(Bytes("limits", "max_call_bytes", &Config::max_call_bytes, 16 * kMiB, kRestart,
                    "memory of the requests being handled and the replies not yet taken by their clients, in all "
                    "(at least one largest request and its reply)"));
  v.push_back(Bytes("limits", "max_connection_call_bytes", &Config::max_connection_call_bytes, 16 * kMiB, kRestart,
                    "the same for one connection"));
  v.push_back(Int("limits", "max_keys_per_request", &Config::max_keys_per_request, 1, 10000000, kRestart,
                  "keys one Key read names, and items one BatchCommit holds"));
  v.push_back(Int("limits", "reply_timeout_ms", &Config::reply_timeout_ms, 100, 3600000, kRestart,
                  "a reply the client has not taken this long after it was ready is cancelled"));
  // [log]
  Setting level = Str("log", "level", T::kChoice, &Config::log_level, kLive, "the least severe level logged");
  level.choices = "trace|debug|info|warn|error|off";
  v.push_back(level);
  v.push_back(Default(Str("log", "file", T::kPath, &Config::log_file, kRestart,
                          "log to this file instead of stderr, rotated at 100 MiB, 5 kept"),
                      "none (stderr)"));
  // [cluster]
  v.push_back(Int("cluster", "heartbeat_ms", &Config::heartbeat_ms, 10, 10000, kRestart,
                  "leader heartbeat interval (one consensus tick)"));
  v.push_back(Int("cluster", "election_timeout_ms", &Config::election_timeout_ms, 100, 60000, kRestart,
                  "followers elect a new leader after 1x-2x this without one (at least 3 x `heartbeat_ms`)"));
  v.push_back(Int("cluster", "log_keep_entries", &Config::log_keep_entries, 100, 100000000, kRestart,
                  "chosen log entries kept behind the applied slot; a node further behind gets a snapshot"));
  v.push_back(Int("cluster", "snapshot_rate_mib", &Config::snapshot_rate_mib, 1, 10000, kRestart,
                  "MiB/s limit for streaming a snapshot to a lagging node"));
  v.push_back(
      Default(Str("cluster", "peer_secret", T::kSecret, &Config::peer_secret, kLive,
                  "the masters' own credential (the same on every master; clients never get it). Unset, the masters "
                  "derive their peer key from every master's `auth_secret_key` together; see "
                  "[Credentials](#credentials-who-can-do-what)"),
              "none"));
  Setting addr = Array(Row("cluster.masters", "addr", T::kAddr, kRestart,
                           "a cluster member's gRPC address (seed spelling; at most 7 members, one of them "
                           "`[server] bind`)"));
  addr.default_text = "none (single node)";
  addr.same = SameAddrs;
  addr.show = [](const Config&) { return std::string(); };
  v.push_back(addr);
  Setting secret = Array(Row("cluster.masters", "auth_secret_key", T::kSecret, kLive,
                             "that member's root secret; this node accepts it as root"));
  secret.default_text = "required";
  // The members' credentials (both spellings); a changed address list
  // needs a restart, and then the whole list does.
  secret.same = [](const Config& a, const Config& b) {
    if (!SameAddrs(a, b)) return true;
    for (size_t i = 0; i < a.masters.size(); i++) {
      if (a.masters[i].secret != b.masters[i].secret || a.masters[i].access_key_id != b.masters[i].access_key_id) {
        return false;
      }
    }
    return true;
  };
  secret.take = [](const Config& from, Config* to) {
    for (size_t i = 0; i < to->masters.size(); i++) {
      to->masters[i].secret = from.masters[i].secret;
      to->masters[i].access_key_id = from.masters[i].access_key_id;
    }
  };
  v.push_back(secret);
  v.push_back(Default(Array(Row("cluster.main_nodes", "addr", T::kAddr, kRestart,
                                "kvgo-server 1.x spelling of `[[cluster.masters]] addr`")),
                      "none"));
  v.push_back(
      Default(Row("cluster.main_nodes.access_key", "id", T::kString, kLive, "1.x spelling: the member's root key id"),
              "`00000000`"));
  v.push_back(Default(Row("cluster.main_nodes.access_key", "secret", T::kSecret, kLive,
                          "1.x spelling of `[[cluster.masters]] auth_secret_key`"),
                      "required"));
  for (Setting& s : v) {
    if (s.array || s.type == T::kPems || std::holds_alternative<std::monostate>(s.field)) s.by_hand = true;
  }
  return v;
}

std::string Code(const std::string& s) { return absl::StrCat("`", s, "`"); }

std::string DefaultText(const Setting& s) {
  if (s.default_text != nullptr) return s.default_text;
  static const Config defaults;
  if (auto f = std::get_if<std::string Config::*>(&s.field)) {
    return (defaults.*(*f)).empty() ? "none" : Code(defaults.*(*f));
  }
  if (auto f = std::get_if<int Config::*>(&s.field)) return Code(absl::StrCat(defaults.*(*f)));
  if (auto f = std::get_if<uint64_t Config::*>(&s.field)) {
    const uint64_t n = defaults.*(*f);
    std::string text = Code(absl::StrCat(n));
    if (n > 0 && n % kMiB == 0) absl::StrAppend(&text, " (", n / kMiB, " MiB)");
    return text;
  }
  return "none";
}

std::string TypeText(const Setting& s) {
  switch (s.type) {
    case SettingType::kString:
      return "string";
    case SettingType::kPath:
      return "path";
    case SettingType::kAddr:
      return "host:port";
    case SettingType::kSecret:
      return "secret";
    case SettingType::kChoice:
      return "string";
    case SettingType::kInt:
      return "integer";
    case SettingType::kBytes:
      return "bytes";
    case SettingType::kPems:
      return "PEM";
  }
  return "";
}

std::string RangeText(const Setting& s) {
  switch (s.type) {
    case SettingType::kString:
    case SettingType::kPath:
      return s.min > 0 ? "not empty" : "-";
    case SettingType::kSecret:
      return ">= 20 characters";
    case SettingType::kChoice: {
      std::string out;
      for (absl::string_view c : absl::StrSplit(s.choices, '|')) {
        absl::StrAppend(&out, out.empty() ? "" : ", ", Code(std::string(c)));
      }
      return out;
    }
    case SettingType::kInt:
      return absl::StrCat(s.min, " to ", s.max);
    case SettingType::kBytes:
      return s.min > 0 ? absl::StrCat(">= ", s.min, " (", s.min / kMiB, " MiB)") : ">= 0";
    default:
      return "-";
  }
}

}  // namespace

std::string TomlQuote(const std::string& v) {
  return absl::StrCat("\"", absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string Setting::Name() const { return absl::StrCat(section, ".", key); }

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = MakeSettings();
  return settings;
}

std::vector<std::string> AllowedKeys(const std::string& section) {
  std::vector<std::string> out;
  auto add = [&](const std::string& k) {
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  };
  const std::string prefix = section.empty() ? "" : section + ".";
  for (const Setting& s : Settings()) {
    const std::string sec = s.section;
    if (sec == section) add(s.key);
    if (sec.size() > prefix.size() && sec.compare(0, prefix.size(), prefix) == 0) {
      add(sec.substr(prefix.size(), sec.find('.', prefix.size()) - prefix.size()));
    }
  }
  return out;
}

std::string ShowSetting(const Setting& s, const Config& c) {
  if (s.show != nullptr) return s.show(c);
  if (auto f = std::get_if<std::string Config::*>(&s.field)) {
    const std::string& v = c.*(*f);
    if (s.type == SettingType::kSecret) return v.empty() ? "" : TomlQuote(MaskSecret(v));
    return TomlQuote(v);
  }
  if (auto f = std::get_if<int Config::*>(&s.field)) return absl::StrCat(c.*(*f));
  if (auto f = std::get_if<uint64_t Config::*>(&s.field)) return absl::StrCat(c.*(*f));
  return "";
}

std::vector<std::string> PlanReload(const Config& running, const Config& loaded, Config* next) {
  *next = running;
  std::vector<std::string> restart;
  for (const Setting& s : Settings()) {
    bool same = true;
    if (s.same != nullptr) {
      same = s.same(running, loaded);
    } else if (auto f = std::get_if<std::string Config::*>(&s.field)) {
      same = running.*(*f) == loaded.*(*f);
    } else if (auto f = std::get_if<int Config::*>(&s.field)) {
      same = running.*(*f) == loaded.*(*f);
    } else if (auto f = std::get_if<uint64_t Config::*>(&s.field)) {
      same = running.*(*f) == loaded.*(*f);
    }
    if (same) continue;
    if (!s.live) {
      // A TLS file is reported by its section; a member list by its name.
      const std::string name = s.type == SettingType::kPems || s.array ? std::string(s.section) : s.Name();
      if (std::find(restart.begin(), restart.end(), name) == restart.end()) restart.push_back(name);
      continue;
    }
    if (s.take != nullptr) {
      s.take(loaded, next);
    } else if (auto f = std::get_if<std::string Config::*>(&s.field)) {
      next->*(*f) = loaded.*(*f);
    } else if (auto f = std::get_if<int Config::*>(&s.field)) {
      next->*(*f) = loaded.*(*f);
    } else if (auto f = std::get_if<uint64_t Config::*>(&s.field)) {
      next->*(*f) = loaded.*(*f);
    }
  }
  return restart;
}

std::string ReferenceTable() {
  std::string out = "| key | type | default | range | on SIGHUP | meaning |\n|---|---|---|---|---|---|\n";
  for (const Setting& s : Settings()) {
    const std::string section = s.array ? absl::StrCat("[[", s.section, "]]") : absl::StrCat("[", s.section, "]");
    absl::StrAppend(&out, "| `", section, " ", s.key, "` | ", TypeText(s), " | ", DefaultText(s), " | ", RangeText(s),
                    " | ", s.live ? "applied" : "restart", " | ", s.help, " |\n");
  }
  return out;
}

}  // namespace kvgo
