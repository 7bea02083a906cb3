#include "config/reader.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "config/settings.h"

namespace kvgo::config {
namespace {

// OpenSSL's passphrase callback: an encrypted key fails to load instead of
// prompting on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

void Reader::CheckKeys(const TomlValue& table, const std::string& path) {
  const std::vector<std::string> allowed = AllowedKeys(path);
  for (const auto& [k, v] : table.as_table()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Fail(&v, Join(path, k), v.is_table() || v.is_array() ? "unknown section" : "unknown key");
    }
  }
}

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

// Checked before toml11 sees the bytes: its parser reads past the end of
// some malformed input (found by tests/fuzz/config_fuzz.cc).
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

}  // namespace kvgo::config
