// Access keys and the authorisation rules of kvgo (docs/wire-api.md,
// "Key id -> server key, roles, scopes, permissions").
//
// Keyring is thread-safe: Authenticate may run on every RPC thread while
// SetRootKeys/Put/Remove run on the apply or reload path.
#pragma once

#include <absl/synchronization/mutex.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "hauth.pb.h"

namespace kvgo::auth {

inline constexpr char kPermSysAll[] = "sys/all";
inline constexpr char kPermTableList[] = "table/list";
inline constexpr char kPermTableRead[] = "table/read";
inline constexpr char kPermTableWrite[] = "table/write";
inline constexpr char kScopeTable[] = "kvgo/table";

// The authenticated caller: an immutable access key.
using Principal = std::shared_ptr<const hooto::hauth::v1::AccessKey>;

// A root key: role sa, scope kvgo/table=*.
hooto::hauth::v1::AccessKey MakeRootKey(const std::string& id, const std::string& secret);

// The authorisation check Allow(permission, kvgo/table=<table>). Returns
// OK or PermissionDenied with the reference's reason, e.g.
// "permission=table/write not allow".
Status Authorize(const hooto::hauth::v1::AccessKey& key, const std::string& permission, const std::string& table);

// Keeps AccessKeySet's rules: roles limited to sa/client, scopes to
// kvgo/table with trimmed values. Returns InvalidArgument with the
// reference's message ("invalid roles settings", "scope value not found").
Status NormalizeAccessKey(hooto::hauth::v1::AccessKey* key);

class Keyring {
 public:
  // Replaces the root keys (the config's key, and in a cluster the other
  // masters' keys). The first is the primary root key: a token whose id is
  // unknown but that verifies with one of these secrets is root too.
  void SetRootKeys(std::vector<hooto::hauth::v1::AccessKey> roots);

  // Adds or replaces a stored (AccessKeySet) key.
  void Put(const hooto::hauth::v1::AccessKey& key);

  // Steps 1-7 of the reference validation for `token`, the header's value.
  // A missing header is the caller's to report ("no auth token found"); an
  // empty value fails like any malformed one ("access_token not found").
  // Returns the principal or PermissionDenied with the reason text.
  StatusOr<Principal> Authenticate(std::string_view token, int64_t now_ms) const;

  // Root keys first, then stored keys in id order.
  std::vector<Principal> List() const;
  // nullptr if no key has this id.
  Principal Find(const std::string& id) const;
  // The stored (AccessKeySet) key with this id, or nullptr; never a root key.
  Principal FindStored(const std::string& id) const;
  // True if `id` is one of the root keys (they come from the config).
  bool IsRoot(const std::string& id) const;

 private:
  mutable absl::Mutex mu_;
  std::vector<Principal> roots_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Principal> keys_ ABSL_GUARDED_BY(mu_);  // stored keys by id
};

}  // namespace kvgo::auth
