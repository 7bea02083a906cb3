// Reading a config file: TOML values whose errors name the file, line and
// key, and the checks of single values (UTF-8 text, secrets, addresses,
// PEM certificates and keys). Internal to config/.
//
// Thread-safety: a Reader is used by one thread; the functions are pure
// (ReadPem reads one file).
#pragma once

#include <string>
#include <toml.hpp>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace kvgo::config {

using TomlValue = toml::value;

constexpr size_t kMinSecretLen = 20;

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

  // Rejects keys of `table` not in the settings table (settings.h). `path`
  // is the table's name.
  void CheckKeys(const TomlValue& table, const std::string& path);

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

// `path` resolved against `prefix` unless absolute or empty.
std::string ResolvePath(const std::string& prefix, const std::string& path);

// Fail()s unless `secret` has kMinSecretLen characters and no control
// character.
void ValidateSecret(Reader* r, const TomlValue* where, const std::string& key, const std::string& secret);

// Fail()s unless `addr` is host:port (SplitHostPort).
void ValidateAddr(Reader* r, const TomlValue* where, const std::string& key, const std::string& addr);

// One PEM of [server.auth_tls_cert] from `<name>_file` (relative to
// `prefix`) or `<name>_data`, checked with OpenSSL: a certificate, or
// (is_key) an unencrypted private key. Leaves *pem empty when neither is set.
void ReadPem(Reader* r, const TomlValue& t, const std::string& prefix, const std::string& name, bool is_key,
             std::string* pem, std::string* source);

// Whether `key_pem` is the private key of the first certificate in `cert_pem`.
bool KeyMatchesCert(const std::string& cert_pem, const std::string& key_pem);

// InvalidArgument naming the line unless `text` is UTF-8 without control
// characters other than tab and line ends.
Status CheckText(const std::string& text, const std::string& source_name);

}  // namespace kvgo::config
