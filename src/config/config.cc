#include "config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/kvspec.h"
#include "config/reader.h"
#include "config/settings.h"

namespace kvgo {
namespace {

using config::CheckText;
using config::KeyMatchesCert;
using config::Reader;
using config::ReadPem;
using config::ResolvePath;
using config::TomlValue;
using config::ValidateAddr;
using config::ValidateSecret;

constexpr size_t kMaxMasters = 7;

void ParseMembers(Reader* r, const TomlValue& cluster, const std::string& key, bool legacy, Config* cfg) {
  const TomlValue* list = r->Find(cluster, key);
  if (list == nullptr) return;
  const std::string path = "cluster." + key;
  if (!list->is_array()) return r->Fail(list, path, "must be an array of tables ([[" + path + "]])");
  for (const TomlValue& m : list->as_array()) {
    if (!m.is_table()) return r->Fail(&m, path, "must be an array of tables ([[" + path + "]])");
    ClusterMember member;
    member.access_key_id = kvspec::kRootKeyId;
    if (legacy) {
      r->CheckKeys(m, path);
      r->String(m, path, "addr", &member.addr);
      if (const TomlValue* ak = r->Table(m, path, "access_key")) {
        r->CheckKeys(*ak, path + ".access_key");
        r->String(*ak, path + ".access_key", "id", &member.access_key_id);
        r->String(*ak, path + ".access_key", "secret", &member.secret);
      }
    } else {
      r->CheckKeys(m, path);
      r->String(m, path, "addr", &member.addr);
      r->String(m, path, "auth_secret_key", &member.secret);
    }
    if (r->failed()) return;
    if (member.addr.empty()) return r->Fail(&m, path + ".addr", "is required");
    ValidateAddr(r, r->Find(m, "addr"), path + ".addr", member.addr);
    ValidateSecret(r, &m, legacy ? path + ".access_key.secret" : path + ".auth_secret_key", member.secret);
    for (const auto& other : cfg->masters) {
      if (other.addr == member.addr) {
        return r->Fail(r->Find(m, "addr"), path + ".addr", "duplicate member " + member.addr);
      }
    }
    cfg->masters.push_back(std::move(member));
  }
}

}  // namespace

Status SplitHostPort(const std::string& addr, std::string* host, int* port) {
  std::string h;
  std::string p;
  if (!addr.empty() && addr[0] == '[') {
    size_t close = addr.find(']');
    if (close == std::string::npos || close + 1 >= addr.size() || addr[close + 1] != ':') {
      return absl::InvalidArgumentError("\"" + addr + "\" is not host:port");
    }
    h = addr.substr(1, close - 1);
    p = addr.substr(close + 2);
  } else {
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos || addr.find(':') != colon) {
      return absl::InvalidArgumentError("\"" + addr + "\" is not host:port");
    }
    h = addr.substr(0, colon);
    p = addr.substr(colon + 1);
  }
  int n = 0;
  if (h.empty()) return absl::InvalidArgumentError("\"" + addr + "\" has no host");
  if (!absl::SimpleAtoi(p, &n) || n < 1 || n > 65535 || p[0] == '+' || p[0] == '-') {
    return absl::InvalidArgumentError("\"" + addr + "\" has no valid port (1-65535)");
  }
  *host = h;
  *port = n;
  return absl::OkStatus();
}

// Shows no character of the secret, and no hash of it either (a hash would
// let whoever sees the output confirm a guessed weak secret): its length.
std::string MaskSecret(const std::string& secret) { return absl::StrCat("******** (", secret.size(), " characters)"); }

namespace {

// A plain key of the table: its type and range.
void ReadPlain(Reader* r, const TomlValue& t, const Setting& s, Config* cfg) {
  const TomlValue* v = r->Find(t, s.key);
  if (v == nullptr) return;
  const std::string name = s.Name();
  if (s.type == SettingType::kInt) {
    return r->Int(t, s.section, s.key, s.min, s.max, &(cfg->*std::get<int Config::*>(s.field)));
  }
  if (s.type == SettingType::kBytes) {
    uint64_t n = 0;
    r->Uint64(t, s.section, s.key, &n);
    if (r->failed()) return;
    if (n < static_cast<uint64_t>(s.min)) {
      return r->Fail(v, name, absl::StrCat("must be at least ", s.min, " (got ", n, ")"));
    }
    cfg->*std::get<uint64_t Config::*>(s.field) = n;
    return;
  }
  std::string str;
  r->String(t, s.section, s.key, &str);
  if (r->failed()) return;
  if (s.min > 0 && str.empty()) return r->Fail(v, name, "must not be empty");
  if (s.type == SettingType::kAddr) ValidateAddr(r, v, name, str);
  if (s.type == SettingType::kSecret) ValidateSecret(r, v, name, str);
  if (s.type == SettingType::kChoice) {
    std::vector<std::string> choices = absl::StrSplit(s.choices, '|');
    if (std::find(choices.begin(), choices.end(), str) == choices.end()) {
      return r->Fail(v, name, absl::StrCat("must be one of ", absl::StrJoin(choices, ", "), " (got \"", str, "\")"));
    }
  }
  cfg->*std::get<std::string Config::*>(s.field) = str;
}

// The section `path` ("server.auth_tls_cert") of `root`, its keys checked
// and its plain keys read; nullptr when absent or on error.
const TomlValue* ReadSection(Reader* r, const TomlValue& root, const std::string& path, Config* cfg) {
  const TomlValue* t = &root;
  std::string at;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    t = r->Table(*t, at, std::string(part));
    if (t == nullptr) return nullptr;
    at = Reader::Join(at, std::string(part));
  }
  r->CheckKeys(*t, path);
  for (const Setting& s : Settings()) {
    if (!r->failed() && s.section == path && !s.by_hand) ReadPlain(r, *t, s, cfg);
  }
  return r->failed() ? nullptr : t;
}

// [server] auth_secret_key and its 1.x spelling [server.access_key].
void ReadRootKey(Reader* r, const TomlValue* server, const TomlValue* access_key, Config* cfg) {
  std::string secret;
  const TomlValue* where = nullptr;
  if (server != nullptr) {
    r->String(*server, "server", "auth_secret_key", &secret);
    where = r->Find(*server, "auth_secret_key");
  }
  if (access_key != nullptr) {
    std::string id, ak_secret;
    r->String(*access_key, "server.access_key", "id", &id);
    r->String(*access_key, "server.access_key", "secret", &ak_secret);
    if (!r->failed() && !id.empty()) {
      if (id.size() < 4) r->Fail(r->Find(*access_key, "id"), "server.access_key.id", "must be at least 4 characters");
      cfg->root_key_id = id;
    }
    if (!r->failed() && !ak_secret.empty()) {
      if (!secret.empty() && secret != ak_secret) {
        r->Fail(r->Find(*access_key, "secret"), "server.access_key.secret",
                "conflicts with server.auth_secret_key (set one of them)");
      }
      secret = ak_secret;
      where = r->Find(*access_key, "secret");
    }
  }
  if (r->failed()) return;
  if (secret.empty()) return r->Fail(nullptr, "server.auth_secret_key", "is required (at least 20 characters)");
  ValidateSecret(r, where, "server.auth_secret_key", secret);
  cfg->root_secret = secret;
}

void ReadTls(Reader* r, const TomlValue& t, const std::string& prefix, TlsConfig* tls) {
  ReadPem(r, t, prefix, "server_cert", false, &tls->cert_pem, &tls->cert_source);
  ReadPem(r, t, prefix, "server_key", true, &tls->key_pem, &tls->key_source);
  ReadPem(r, t, prefix, "ca_cert", false, &tls->ca_pem, &tls->ca_source);
  if (!r->failed() && tls->cert_pem.empty() != tls->key_pem.empty()) {
    r->Fail(&t, "server.auth_tls_cert",
            "needs both a certificate (server_cert_file or _data) and its key (server_key_file or _data)");
  }
  if (!r->failed() && tls->cert_pem.empty() && !tls->ca_pem.empty()) {
    r->Fail(&t, "server.auth_tls_cert", "a ca_cert needs the server's own certificate and key too");
  }
  if (!r->failed() && tls->enabled() && !KeyMatchesCert(tls->cert_pem, tls->key_pem)) {
    r->Fail(r->Find(t, tls->key_source == "(inline)" ? "server_key_data" : "server_key_file"),
            "server.auth_tls_cert.server_key", "is not the private key of the server certificate");
  }
}

void ReadCluster(Reader* r, const TomlValue& s, const std::string& bind, Config* cfg) {
  if (cfg->election_timeout_ms < 3 * cfg->heartbeat_ms) {
    r->Fail(r->Find(s, "election_timeout_ms"), "cluster.election_timeout_ms",
            absl::StrCat("must be at least 3 x cluster.heartbeat_ms (got ", cfg->election_timeout_ms, " and ",
                         cfg->heartbeat_ms, ")"));
  }
  ParseMembers(r, s, "masters", /*legacy=*/false, cfg);
  ParseMembers(r, s, "main_nodes", /*legacy=*/true, cfg);
  if (!r->failed() && cfg->masters.size() > kMaxMasters) {
    r->Fail(&s, "cluster.masters", absl::StrCat("at most ", kMaxMasters, " members (got ", cfg->masters.size(), ")"));
  }
  if (!r->failed() && cfg->ClusterMode() &&
      std::none_of(cfg->masters.begin(), cfg->masters.end(), [&](const ClusterMember& m) { return m.addr == bind; })) {
    const TomlValue* list = r->Find(s, "masters");
    r->Fail(list != nullptr ? list : r->Find(s, "main_nodes"), "cluster.masters",
            "no entry has addr = server.bind (\"" + bind +
                "\"); each node must find itself in the list by its bind address");
  }
}

}  // namespace

StatusOr<Config> ParseConfig(const std::string& text, const std::string& source_name, const std::string& prefix) {
  if (Status s = CheckText(text, source_name); !s.ok()) return s;
  TomlValue root;
  try {
    std::istringstream in(text);
    root = toml::parse(in, source_name);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": invalid TOML: ", e.what()));
  }

  Config cfg;
  cfg.source = source_name;
  cfg.prefix = prefix;
  Reader r(source_name);

  r.CheckKeys(root, "");
  for (const auto& [k, v] : root.as_table()) {
    if (!r.failed() && !v.is_table()) r.Fail(&v, k, "must be a section ([" + k + "])");
  }
  if (r.failed()) return absl::InvalidArgumentError(r.error());

  // Every section of the table: its keys checked, its plain keys read.
  std::map<std::string, const TomlValue*> sections;
  for (const Setting& s : Settings()) {
    if (r.failed() || s.array || sections.count(s.section) > 0) continue;
    const std::string section = s.section;
    if (section.rfind("cluster.main_nodes", 0) == 0) continue;  // inside an array: ParseMembers
    sections[section] = ReadSection(&r, root, section, &cfg);
  }
  if (!r.failed()) ReadRootKey(&r, sections["server"], sections["server.access_key"], &cfg);
  if (!r.failed() && sections["server.auth_tls_cert"] != nullptr) {
    ReadTls(&r, *sections["server.auth_tls_cert"], prefix, &cfg.tls);
  }
  if (!r.failed() && sections["cluster"] != nullptr) ReadCluster(&r, *sections["cluster"], cfg.bind, &cfg);

  if (!r.failed() && cfg.tls.enabled() && cfg.tls.ca_pem.empty() && cfg.ClusterMode()) {
    r.Fail(nullptr, "server.auth_tls_cert.ca_cert_file",
           "is required in cluster mode with TLS: the masters verify each other's certificates against it");
  }
  // Room for a memtable flush and LevelDB's largest compaction at these
  // sizes: below it the disk can fill up completely, and then not even a
  // delete can free space.
  const uint64_t leveldb_need = (2ull * cfg.write_buffer_size_mib + 25ull * cfg.max_table_size_mib) << 20;
  const TomlValue* min_free = sections["storage"] != nullptr ? r.Find(*sections["storage"], "min_free_bytes") : nullptr;
  if (!r.failed() && min_free != nullptr && cfg.min_free_bytes > 0 && cfg.min_free_bytes < leveldb_need) {
    r.Fail(min_free, "storage.min_free_bytes",
           absl::StrCat("must be 0 (no reserve) or at least ", leveldb_need,
                        " (2 x write_buffer_size + 25 x max_table_size: what LevelDB needs to finish a flush and its "
                        "largest compaction; got ",
                        cfg.min_free_bytes, ")"));
  }
  if (r.failed()) return absl::InvalidArgumentError(r.error());
  if (min_free == nullptr) cfg.min_free_bytes = leveldb_need;
  for (const Setting& s : Settings()) {
    if (s.type == SettingType::kPath) {
      std::string& path = cfg.*std::get<std::string Config::*>(s.field);
      path = ResolvePath(prefix, path);
    }
  }
  return cfg;
}

StatusOr<Config> LoadConfig(const std::string& path, const std::string& prefix) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::NotFoundError("cannot read config file " + path + ": it is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::NotFoundError("cannot read config file " + path);
  return ParseConfig(ss.str(), path, prefix);
}

std::string Config::ToToml() const {
  std::string out = absl::StrCat("# effective configuration of ", source, " (prefix ", prefix, ")\n");
  std::string section;
  for (const Setting& s : Settings()) {
    const std::string value = ShowSetting(s, *this);
    if (s.array || value.empty()) continue;
    if (section != s.section) {
      section = s.section;
      absl::StrAppend(&out, "\n[", section, "]\n");
    }
    absl::StrAppend(&out, s.key, " = ", value, "\n");
  }
  for (const auto& m : masters) {
    absl::StrAppend(&out, "\n[[cluster.masters]]\naddr = ", TomlQuote(m.addr),
                    "\nauth_secret_key = ", TomlQuote(MaskSecret(m.secret)), "\n");
  }
  return out;
}

bool Config::ClusterMode() const {
  for (const auto& m : masters) {
    if (m.addr != bind) return true;
  }
  return false;
}

}  // namespace kvgo
