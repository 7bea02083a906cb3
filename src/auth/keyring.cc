#include "auth/keyring.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/token.h"

namespace kvgo::auth {
namespace {

const std::vector<std::string>& RolePermissions(const std::string& role) {
  static const std::vector<std::string> kSa = {kPermSysAll, kPermTableList, kPermTableRead, kPermTableWrite};
  static const std::vector<std::string> kClient = {kPermTableList, kPermTableRead, kPermTableWrite};
  static const std::vector<std::string> kNone;
  if (role == "sa") return kSa;
  if (role == "client") return kClient;
  return kNone;
}

}  // namespace

hooto::hauth::v1::AccessKey MakeRootKey(const std::string& id, const std::string& secret) {
  hooto::hauth::v1::AccessKey k;
  k.set_id(id);
  k.set_secret(secret);
  k.add_roles("sa");
  auto* s = k.add_scopes();
  s->set_name(kScopeTable);
  s->set_value("*");
  return k;
}

Status Authorize(const hooto::hauth::v1::AccessKey& key, const std::string& permission, const std::string& table) {
  if (key.scopes_size() == 0) return absl::PermissionDeniedError("access_key/scopes not found");
  const hooto::hauth::v1::ScopeFilter* scope = nullptr;
  for (const auto& s : key.scopes()) {
    if (s.name() == kScopeTable) {
      scope = &s;
      break;
    }
  }
  if (scope == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("access_key/scopes/name=", kScopeTable, " not match"));
  }
  const std::string wrapped = absl::StrCat(",", scope->value(), ",");
  if (wrapped != ",*," && wrapped.find(absl::StrCat(",", table, ",")) == std::string::npos) {
    return absl::PermissionDeniedError(absl::StrCat("access_key/scopes/value=", table, " not match"));
  }
  bool known_role = false;
  for (const auto& role : key.roles()) {
    const auto& perms = RolePermissions(role);
    if (perms.empty()) continue;
    known_role = true;
    for (const auto& p : perms) {
      if (p == permission) return absl::OkStatus();
    }
  }
  if (!known_role) return absl::PermissionDeniedError("access_key/roles not found");
  return absl::PermissionDeniedError(absl::StrCat("permission=", permission, " not allow"));
}

Status NormalizeAccessKey(hooto::hauth::v1::AccessKey* key) {
  std::vector<std::string> roles;
  for (const auto& r : key->roles()) {
    if (r == "sa" || r == "client") roles.push_back(r);
  }
  if (roles.empty()) return absl::InvalidArgumentError("invalid roles settings");
  key->clear_roles();
  for (auto& r : roles) key->add_roles(r);

  std::vector<hooto::hauth::v1::ScopeFilter> scopes;
  for (const auto& s : key->scopes()) {
    if (s.name() != kScopeTable) continue;
    hooto::hauth::v1::ScopeFilter f = s;
    f.set_value(std::string(absl::StripAsciiWhitespace(s.value())));
    if (f.value().empty()) return absl::InvalidArgumentError("scope value not found");
    scopes.push_back(std::move(f));
  }
  key->clear_scopes();
  for (auto& s : scopes) *key->add_scopes() = std::move(s);
  return absl::OkStatus();
}

void Keyring::SetRootKeys(std::vector<hooto::hauth::v1::AccessKey> roots) {
  std::vector<Principal> ps;
  for (auto& r : roots) ps.push_back(std::make_shared<const hooto::hauth::v1::AccessKey>(std::move(r)));
  absl::MutexLock lock(&mu_);
  roots_ = std::move(ps);
}

void Keyring::Put(const hooto::hauth::v1::AccessKey& key) {
  auto p = std::make_shared<const hooto::hauth::v1::AccessKey>(key);
  absl::MutexLock lock(&mu_);
  keys_[key.id()] = std::move(p);
}

StatusOr<Principal> Keyring::Authenticate(std::string_view token, int64_t now_ms) const {
  ParsedToken parsed;
  if (Status s = ParseToken(token, now_ms, &parsed); !s.ok()) return s;

  absl::ReaderMutexLock lock(&mu_);
  const std::string& id = parsed.payload.id();
  Principal key;
  for (const auto& r : roots_) {
    if (r->id() == id && VerifySignature(parsed, r->secret())) return r;
  }
  if (auto it = keys_.find(id); it != keys_.end()) key = it->second;
  if (key == nullptr) {
    for (const auto& r : roots_) {
      if (r->id() == id) key = r;
    }
  }
  if (key == nullptr) {
    // Unknown id: accepted as root if it verifies with a root secret.
    for (const auto& r : roots_) {
      if (VerifySignature(parsed, r->secret())) return r;
    }
    return absl::PermissionDeniedError("sign denied : no AccessKey found");
  }
  if (!VerifySignature(parsed, key->secret())) return absl::PermissionDeniedError("sign denied");
  return key;
}

std::vector<Principal> Keyring::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<Principal> out = roots_;
  for (const auto& [id, k] : keys_) out.push_back(k);
  return out;
}

Principal Keyring::Find(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& r : roots_) {
    if (r->id() == id) return r;
  }
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : it->second;
}

Principal Keyring::FindStored(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : it->second;
}

bool Keyring::IsRoot(const std::string& id) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& r : roots_) {
    if (r->id() == id) return true;
  }
  return false;
}

}  // namespace kvgo::auth
