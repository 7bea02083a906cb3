#include "config/config.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <toml.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/kvspec.h"

namespace kvgo {
namespace {

using TomlValue = toml::value;

constexpr size_t kMinSecretLen = 20;
constexpr size_t kMaxMasters = 7;

// Collects the first error with file, line and key.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(const TomlValue* where, const std::string& key, const std::string& msg) {
    if (failed()) return;
    std::string loc = source_;
    if (where != nullptr && where->location().line() > 0) {
      absl::StrAppend(&loc, ":", where->location().line());
    }
    error_ = absl::StrCat(loc, ": ", key, ": ", msg);
  }

  // Rejects keys of `table` not in `allowed`. `path` is the table's name.
  void CheckKeys(const TomlValue& table, const std::string& path, const std::set<std::string>& allowed) {
    for (const auto& [k, v] : table.as_table()) {
      if (allowed.count(k) == 0) {
        Fail(&v, Join(path, k), v.is_table() || v.is_array() ? "unknown section" : "unknown key");
        return;
      }
    }
  }

  const TomlValue* Find(const TomlValue& table, const std::string& key) {
    const auto& t = table.as_table();
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
  }

  void String(const TomlValue& table, const std::string& path, const std::string& key, std::string* out) {
    const TomlValue* v = Find(table, key);
    if (v == nullptr) return;
    if (!v->is_string()) return Fail(v, Join(path, key), "must be a string");
    *out = v->as_string().str;
  }

  void Int(const TomlValue& table, const std::string& path, const std::string& key, int64_t lo, int64_t hi, int* out) {
    const TomlValue* v = Find(table, key);
    if (v == nullptr) return;
    if (!v->is_integer()) return Fail(v, Join(path, key), "must be an integer");
    int64_t n = v->as_integer();
    if (n < lo || n > hi) {
      return Fail(v, Join(path, key), absl::StrCat("must be between ", lo, " and ", hi, " (got ", n, ")"));
    }
    *out = static_cast<int>(n);
  }

  void Uint64(const TomlValue& table, const std::string& path, const std::string& key, uint64_t* out) {
    const TomlValue* v = Find(table, key);
    if (v == nullptr) return;
    if (!v->is_integer() || v->as_integer() < 0) {
      return Fail(v, Join(path, key), "must be a non-negative integer");
    }
    *out = static_cast<uint64_t>(v->as_integer());
  }

  const TomlValue* Table(const TomlValue& table, const std::string& path, const std::string& key) {
    const TomlValue* v = Find(table, key);
    if (v == nullptr) return nullptr;
    if (!v->is_table()) {
      Fail(v, Join(path, key), "must be a table");
      return nullptr;
    }
    return v;
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string source_;
  std::string error_;
};

std::string ResolvePath(const std::string& prefix, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  if (prefix.empty()) return path;
  return prefix + (prefix.back() == '/' ? "" : "/") + path;
}

void ValidateSecret(Reader* r, const TomlValue* where, const std::string& key, const std::string& secret) {
  if (secret.size() < kMinSecretLen) {
    r->Fail(where, key, absl::StrCat("must be at least ", kMinSecretLen, " characters (got ", secret.size(), ")"));
  }
  for (char c : secret) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      r->Fail(where, key, "must not contain control characters");
      return;
    }
  }
}

// OpenSSL's passphrase callback: an encrypted key fails to load instead of
// prompting on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

// One PEM of [server.auth_tls_cert] from `<name>_file` or `<name>_data`,
// checked with OpenSSL: a certificate, or (is_key) a private key.
void ReadPem(Reader* r, const TomlValue& t, const std::string& prefix, const std::string& name, bool is_key,
             std::string* pem, std::string* source) {
  const std::string path = "server.auth_tls_cert";
  std::string file, data;
  r->String(t, path, name + "_file", &file);
  r->String(t, path, name + "_data", &data);
  if (r->failed() || (file.empty() && data.empty())) return;
  if (!file.empty() && !data.empty()) {
    r->Fail(r->Find(t, name + "_data"), path + "." + name + "_data",
            "set either " + name + "_file or " + name + "_data");
    return;
  }
  const std::string key = path + "." + name + (file.empty() ? "_data" : "_file");
  const TomlValue* where = r->Find(t, name + (file.empty() ? "_data" : "_file"));
  if (!file.empty()) {
    const std::string resolved = ResolvePath(prefix, file);
    std::ifstream in(resolved, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in || ss.str().empty()) {
      r->Fail(where, key, "cannot read " + resolved);
      return;
    }
    data = ss.str();
    *source = resolved;
  } else {
    *source = "(inline)";
  }
  BIO* bio = BIO_new_mem_buf(data.data(), static_cast<int>(data.size()));
  bool ok = false;
  if (is_key) {
    EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
    ok = k != nullptr;
    EVP_PKEY_free(k);
  } else {
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    ok = x != nullptr;
    X509_free(x);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (!ok) {
    r->Fail(where, key, is_key ? "is not a PEM private key (unencrypted)" : "is not a PEM certificate");
    return;
  }
  *pem = data;
}

// Whether `key_pem` is the private key of the first certificate in `cert_pem`.
bool KeyMatchesCert(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, NoPassphrase, nullptr);
  const bool ok = x != nullptr && k != nullptr && X509_check_private_key(x, k) == 1;
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(cb);
  BIO_free(kb);
  ERR_clear_error();
  return ok;
}

void ValidateAddr(Reader* r, const TomlValue* where, const std::string& key, const std::string& addr) {
  std::string host;
  int port = 0;
  Status s = SplitHostPort(addr, &host, &port);
  if (!s.ok()) r->Fail(where, key, std::string(s.message()));
}

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
      r->CheckKeys(m, path, {"addr", "access_key"});
      r->String(m, path, "addr", &member.addr);
      if (const TomlValue* ak = r->Table(m, path, "access_key")) {
        r->CheckKeys(*ak, path + ".access_key", {"id", "secret"});
        r->String(*ak, path + ".access_key", "id", &member.access_key_id);
        r->String(*ak, path + ".access_key", "secret", &member.secret);
      }
    } else {
      r->CheckKeys(m, path, {"addr", "auth_secret_key"});
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

// TOML files are UTF-8 text without control characters other than tab and
// line ends. Checked before toml11 sees the bytes: its parser reads past
// the end of some malformed input (found by tests/fuzz/config_fuzz.cc).
Status CheckText(const std::string& text, const std::string& source_name) {
  int line = 1;
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') line++;
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        return absl::InvalidArgumentError(absl::StrCat(source_name, ":", line, ": invalid TOML: control character 0x",
                                                       absl::Hex(c), " (a config file is UTF-8 text)"));
      }
      i++;
      continue;
    }
    // A well-formed multi-byte UTF-8 sequence (no overlongs, surrogates or
    // code points above U+10FFFF).
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0)
      n = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
      n = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
      n = 3, cp = c & 0x07;
    bool ok = n > 0;
    for (size_t k = 1; ok && k <= n; k++) {
      if (i + k >= text.size()) {
        ok = false;
        break;
      }
      const auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (!ok || cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", line, ": invalid TOML: not UTF-8 (a config file is UTF-8 text)"));
    }
    i += n + 1;
  }
  return absl::OkStatus();
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
  cfg.data_directory = "var/data";
  Reader r(source_name);

  r.CheckKeys(root, "", {"storage", "server", "performance", "feature", "log", "cluster", "limits"});
  for (const auto& [k, v] : root.as_table()) {
    if (!r.failed() && !v.is_table()) r.Fail(&v, k, "must be a section ([" + k + "])");
  }
  if (r.failed()) return absl::InvalidArgumentError(r.error());

  bool min_free_set = false;
  if (const TomlValue* s = r.Table(root, "", "storage")) {
    r.CheckKeys(*s, "storage", {"data_directory", "quota_bytes", "min_free_bytes"});
    r.String(*s, "storage", "data_directory", &cfg.data_directory);
    r.Uint64(*s, "storage", "quota_bytes", &cfg.quota_bytes);
    if (r.Find(*s, "min_free_bytes") != nullptr) min_free_set = true;
    r.Uint64(*s, "storage", "min_free_bytes", &cfg.min_free_bytes);
    if (!r.failed() && cfg.data_directory.empty()) {
      r.Fail(r.Find(*s, "data_directory"), "storage.data_directory", "must not be empty");
    }
  }

  std::string auth_secret_key;
  const TomlValue* secret_where = nullptr;
  if (const TomlValue* s = r.Table(root, "", "server")) {
    r.CheckKeys(*s, "server", {"bind", "auth_secret_key", "http_port", "access_key", "auth_tls_cert"});
    r.String(*s, "server", "bind", &cfg.bind);
    if (!r.failed()) ValidateAddr(&r, r.Find(*s, "bind"), "server.bind", cfg.bind);
    r.String(*s, "server", "auth_secret_key", &auth_secret_key);
    secret_where = r.Find(*s, "auth_secret_key");
    r.Int(*s, "server", "http_port", 0, 65535, &cfg.http_port);
    if (const TomlValue* t = r.Table(*s, "server", "auth_tls_cert")) {
      r.CheckKeys(*t, "server.auth_tls_cert",
                  {"server_cert_file", "server_cert_data", "server_key_file", "server_key_data", "ca_cert_file",
                   "ca_cert_data"});
      TlsConfig& tls = cfg.tls;
      ReadPem(&r, *t, prefix, "server_cert", false, &tls.cert_pem, &tls.cert_source);
      ReadPem(&r, *t, prefix, "server_key", true, &tls.key_pem, &tls.key_source);
      ReadPem(&r, *t, prefix, "ca_cert", false, &tls.ca_pem, &tls.ca_source);
      if (!r.failed() && tls.cert_pem.empty() != tls.key_pem.empty()) {
        r.Fail(t, "server.auth_tls_cert",
               "needs both a certificate (server_cert_file or _data) and its key (server_key_file or _data)");
      }
      if (!r.failed() && tls.cert_pem.empty() && !tls.ca_pem.empty()) {
        r.Fail(t, "server.auth_tls_cert", "a ca_cert needs the server's own certificate and key too");
      }
      if (!r.failed() && tls.enabled() && !KeyMatchesCert(tls.cert_pem, tls.key_pem)) {
        r.Fail(r.Find(*t, tls.key_source == "(inline)" ? "server_key_data" : "server_key_file"),
               "server.auth_tls_cert.server_key", "is not the private key of the server certificate");
      }
    }
    if (const TomlValue* ak = r.Table(*s, "server", "access_key")) {
      r.CheckKeys(*ak, "server.access_key", {"id", "secret"});
      std::string id;
      std::string secret;
      r.String(*ak, "server.access_key", "id", &id);
      r.String(*ak, "server.access_key", "secret", &secret);
      if (!r.failed() && !id.empty()) {
        if (id.size() < 4) r.Fail(r.Find(*ak, "id"), "server.access_key.id", "must be at least 4 characters");
        cfg.root_key_id = id;
      }
      if (!r.failed() && !secret.empty()) {
        if (!auth_secret_key.empty() && auth_secret_key != secret) {
          r.Fail(r.Find(*ak, "secret"), "server.access_key.secret",
                 "conflicts with server.auth_secret_key (set one of them)");
        }
        auth_secret_key = secret;
        secret_where = r.Find(*ak, "secret");
      }
    }
  }
  if (!r.failed()) {
    if (auth_secret_key.empty()) {
      r.Fail(nullptr, "server.auth_secret_key", "is required (at least 20 characters)");
    } else {
      ValidateSecret(&r, secret_where, "server.auth_secret_key", auth_secret_key);
    }
    cfg.root_secret = auth_secret_key;
  }

  if (const TomlValue* s = r.Table(root, "", "performance")) {
    r.CheckKeys(*s, "performance", {"write_buffer_size", "block_cache_size", "max_table_size", "max_open_files"});
    r.Int(*s, "performance", "write_buffer_size", 1, 1024, &cfg.write_buffer_size_mib);
    r.Int(*s, "performance", "block_cache_size", 0, 65536, &cfg.block_cache_size_mib);
    r.Int(*s, "performance", "max_table_size", 1, 1024, &cfg.max_table_size_mib);
    r.Int(*s, "performance", "max_open_files", 64, 1000000, &cfg.max_open_files);
  }

  if (const TomlValue* s = r.Table(root, "", "feature")) {
    r.CheckKeys(*s, "feature", {"table_compress_name"});
    r.String(*s, "feature", "table_compress_name", &cfg.table_compress_name);
    if (!r.failed() && cfg.table_compress_name != "snappy" && cfg.table_compress_name != "none") {
      r.Fail(r.Find(*s, "table_compress_name"), "feature.table_compress_name",
             "must be \"snappy\" or \"none\" (got \"" + cfg.table_compress_name + "\")");
    }
  }

  if (const TomlValue* s = r.Table(root, "", "limits")) {
    r.CheckKeys(*s, "limits",
                {"max_connections", "max_in_flight_requests", "max_call_bytes", "max_connection_call_bytes",
                 "max_keys_per_request", "reply_timeout_ms"});
    r.Int(*s, "limits", "max_connections", 0, 10000000, &cfg.max_connections);
    r.Int(*s, "limits", "max_in_flight_requests", 1, 10000000, &cfg.max_in_flight_requests);
    r.Uint64(*s, "limits", "max_call_bytes", &cfg.max_call_bytes);
    r.Uint64(*s, "limits", "max_connection_call_bytes", &cfg.max_connection_call_bytes);
    r.Int(*s, "limits", "max_keys_per_request", 1, 10000000, &cfg.max_keys_per_request);
    r.Int(*s, "limits", "reply_timeout_ms", 100, 3600000, &cfg.reply_timeout_ms);
    // Below one largest reply, a legal read could never be answered.
    constexpr uint64_t kOneReply = uint64_t{16} << 20;
    for (const char* key : {"max_call_bytes", "max_connection_call_bytes"}) {
      const uint64_t v = std::string(key) == "max_call_bytes" ? cfg.max_call_bytes : cfg.max_connection_call_bytes;
      if (!r.failed() && r.Find(*s, key) != nullptr && v < kOneReply) {
        r.Fail(
            r.Find(*s, key), std::string("limits.") + key,
            absl::StrCat("must be at least ", kOneReply, " (16 MiB: one largest request and its reply; got ", v, ")"));
      }
    }
  }

  if (const TomlValue* s = r.Table(root, "", "log")) {
    r.CheckKeys(*s, "log", {"level", "file"});
    r.String(*s, "log", "level", &cfg.log_level);
    r.String(*s, "log", "file", &cfg.log_file);
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
    if (!r.failed() && kLevels.count(cfg.log_level) == 0) {
      r.Fail(r.Find(*s, "level"), "log.level",
             "must be one of trace, debug, info, warn, error, off (got \"" + cfg.log_level + "\")");
    }
  }

  if (const TomlValue* s = r.Table(root, "", "cluster")) {
    r.CheckKeys(*s, "cluster",
                {"masters", "main_nodes", "heartbeat_ms", "election_timeout_ms", "log_keep_entries",
                 "snapshot_rate_mib", "peer_secret"});
    r.String(*s, "cluster", "peer_secret", &cfg.peer_secret);
    if (!r.failed() && r.Find(*s, "peer_secret") != nullptr) {
      ValidateSecret(&r, r.Find(*s, "peer_secret"), "cluster.peer_secret", cfg.peer_secret);
    }
    r.Int(*s, "cluster", "heartbeat_ms", 10, 10000, &cfg.heartbeat_ms);
    r.Int(*s, "cluster", "election_timeout_ms", 100, 60000, &cfg.election_timeout_ms);
    r.Int(*s, "cluster", "log_keep_entries", 100, 100000000, &cfg.log_keep_entries);
    r.Int(*s, "cluster", "snapshot_rate_mib", 1, 10000, &cfg.snapshot_rate_mib);
    if (!r.failed() && cfg.election_timeout_ms < 3 * cfg.heartbeat_ms) {
      r.Fail(r.Find(*s, "election_timeout_ms"), "cluster.election_timeout_ms",
             absl::StrCat("must be at least 3 x cluster.heartbeat_ms (got ", cfg.election_timeout_ms, " and ",
                          cfg.heartbeat_ms, ")"));
    }
    ParseMembers(&r, *s, "masters", /*legacy=*/false, &cfg);
    ParseMembers(&r, *s, "main_nodes", /*legacy=*/true, &cfg);
    if (!r.failed() && cfg.masters.size() > kMaxMasters) {
      r.Fail(s, "cluster.masters", absl::StrCat("at most ", kMaxMasters, " members (got ", cfg.masters.size(), ")"));
    }
    if (!r.failed() && cfg.ClusterMode() &&
        std::none_of(cfg.masters.begin(), cfg.masters.end(),
                     [&](const ClusterMember& m) { return m.addr == cfg.bind; })) {
      const TomlValue* list = r.Find(*s, "masters");
      r.Fail(list != nullptr ? list : r.Find(*s, "main_nodes"), "cluster.masters",
             "no entry has addr = server.bind (\"" + cfg.bind +
                 "\"); each node must find itself in the list by its bind address");
    }
  }

  if (!r.failed() && cfg.tls.enabled() && cfg.tls.ca_pem.empty() && cfg.ClusterMode()) {
    r.Fail(nullptr, "server.auth_tls_cert.ca_cert_file",
           "is required in cluster mode with TLS: the masters verify each other's certificates against it");
  }
  // Room for a memtable flush and LevelDB's largest compaction at these
  // sizes: below it the disk can fill up completely, and then not even a
  // delete can free space.
  const uint64_t leveldb_need = (2ull * cfg.write_buffer_size_mib + 25ull * cfg.max_table_size_mib) << 20;
  if (!r.failed() && min_free_set && cfg.min_free_bytes > 0 && cfg.min_free_bytes < leveldb_need) {
    const TomlValue* storage = r.Find(root, "storage");
    r.Fail(storage != nullptr ? r.Find(*storage, "min_free_bytes") : nullptr, "storage.min_free_bytes",
           absl::StrCat("must be 0 (no reserve) or at least ", leveldb_need,
                        " (2 x write_buffer_size + 25 x max_table_size: what LevelDB needs to finish a flush and its "
                        "largest compaction; got ",
                        cfg.min_free_bytes, ")"));
  }
  if (r.failed()) return absl::InvalidArgumentError(r.error());
  if (!min_free_set) cfg.min_free_bytes = leveldb_need;
  cfg.data_directory = ResolvePath(prefix, cfg.data_directory);
  cfg.log_file = ResolvePath(prefix, cfg.log_file);
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
  auto q = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  };
  std::ostringstream o;
  o << "# effective configuration of " << source << " (prefix " << prefix << ")\n"
    << "[storage]\n"
    << "data_directory = " << q(data_directory) << "\n"
    << "quota_bytes = " << quota_bytes << "\n"
    << "min_free_bytes = " << min_free_bytes << "\n\n"
    << "[server]\n"
    << "bind = " << q(bind) << "\n"
    << "auth_secret_key = " << q(MaskSecret(root_secret)) << "\n"
    << "http_port = " << http_port << "\n\n";
  if (tls.enabled()) {
    auto pem = [&](const char* name, const std::string& src) {
      if (src.empty()) return;
      if (src == "(inline)") {
        o << name << "_data = \"(inline PEM)\"\n";
      } else {
        o << name << "_file = " << q(src) << "\n";
      }
    };
    o << "[server.auth_tls_cert]\n";
    pem("server_cert", tls.cert_source);
    pem("server_key", tls.key_source);
    pem("ca_cert", tls.ca_source);
    o << "\n";
  }
  o << "[server.access_key]\n"
    << "id = " << q(root_key_id) << "\n\n"
    << "[performance]\n"
    << "write_buffer_size = " << write_buffer_size_mib << "\n"
    << "block_cache_size = " << block_cache_size_mib << "\n"
    << "max_table_size = " << max_table_size_mib << "\n"
    << "max_open_files = " << max_open_files << "\n\n"
    << "[feature]\n"
    << "table_compress_name = " << q(table_compress_name) << "\n\n"
    << "[limits]\n"
    << "max_connections = " << max_connections << "\n"
    << "max_in_flight_requests = " << max_in_flight_requests << "\n"
    << "max_call_bytes = " << max_call_bytes << "\n"
    << "max_connection_call_bytes = " << max_connection_call_bytes << "\n"
    << "max_keys_per_request = " << max_keys_per_request << "\n"
    << "reply_timeout_ms = " << reply_timeout_ms << "\n\n"
    << "[log]\n"
    << "level = " << q(log_level) << "\n"
    << "file = " << q(log_file) << "\n\n"
    << "[cluster]\n"
    << "heartbeat_ms = " << heartbeat_ms << "\n"
    << "election_timeout_ms = " << election_timeout_ms << "\n"
    << "log_keep_entries = " << log_keep_entries << "\n"
    << "snapshot_rate_mib = " << snapshot_rate_mib << "\n";
  if (!peer_secret.empty()) o << "peer_secret = " << q(MaskSecret(peer_secret)) << "\n";
  for (const auto& m : masters) {
    o << "\n[[cluster.masters]]\n"
      << "addr = " << q(m.addr) << "\n"
      << "auth_secret_key = " << q(MaskSecret(m.secret)) << "\n";
  }
  return o.str();
}

bool Config::ClusterMode() const {
  for (const auto& m : masters) {
    if (m.addr != bind) return true;
  }
  return false;
}

}  // namespace kvgo
