#include "server/authz.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/kvspec.h"
#include "server/results.h"

namespace kvgo::server {

namespace {

bool HasRole(const hooto::hauth::v1::AccessKey& key, const std::string& role) {
  return std::find(key.roles().begin(), key.roles().end(), role) != key.roles().end();
}

bool AllTables(const std::vector<std::string>& tables) {
  return std::find(tables.begin(), tables.end(), "*") != tables.end();
}

}  // namespace

std::string ResolvedTable(const std::string& table_as_sent) {
  return table_as_sent.empty() ? std::string(kvspec::kMainTable) : table_as_sent;
}

std::vector<std::string> ScopeTables(const hooto::hauth::v1::AccessKey& key) {
  std::vector<std::string> out;
  for (const auto& s : key.scopes()) {
    if (s.name() != auth::kScopeTable) continue;
    // As auth::Authorize reads it: "*" alone is every table; a "*" in a
    // list is no table at all.
    if (absl::StripAsciiWhitespace(s.value()) == "*") return {"*"};
    for (absl::string_view t : absl::StrSplit(s.value(), ',')) {
      t = absl::StripAsciiWhitespace(t);
      if (!t.empty() && t != "*") out.emplace_back(t);
    }
    break;  // the first kvgo/table scope decides, as in auth::Authorize
  }
  return out;
}

bool IsAdmin(const hooto::hauth::v1::AccessKey& key) { return HasRole(key, "sa"); }

bool IsFullAdmin(const hooto::hauth::v1::AccessKey& key) { return IsAdmin(key) && AllTables(ScopeTables(key)); }

Status AuthorizeTable(const hooto::hauth::v1::AccessKey& key, const std::string& table, bool write) {
  if (table == kvspec::kSysTable && !IsFullAdmin(key)) return absl::PermissionDeniedError("");
  return auth::Authorize(key, write ? auth::kPermTableWrite : auth::kPermTableRead, table);
}

bool WithinScope(const hooto::hauth::v1::AccessKey& admin, const hooto::hauth::v1::AccessKey& key) {
  const std::vector<std::string> mine = ScopeTables(admin);
  if (AllTables(mine)) return true;
  for (const auto& t : ScopeTables(key)) {
    if (std::find(mine.begin(), mine.end(), t) == mine.end()) return false;
  }
  return true;
}

Status AuthorizeKeySet(const hooto::hauth::v1::AccessKey& admin, const hooto::hauth::v1::AccessKey* existing,
                       const hooto::hauth::v1::AccessKey& key) {
  if (!IsAdmin(admin)) return absl::PermissionDeniedError("");
  if (existing != nullptr && !WithinScope(admin, *existing)) {
    return absl::PermissionDeniedError("access key " + existing->id() + " reaches tables outside this key's scope");
  }
  if (!WithinScope(admin, key)) {
    return absl::PermissionDeniedError("the new scope reaches tables outside this key's scope");
  }
  return absl::OkStatus();
}

Status AuthorizeCommand(const hooto::hauth::v1::AccessKey& key, const storage::pb::Command& cmd,
                        const auth::Keyring& keyring) {
  for (const auto& w : cmd.write().writers()) {
    if (Status s = AuthorizeTable(key, ResolvedTable(w.table_name()), /*write=*/true); !s.ok()) return s;
  }
  if (cmd.has_table_set()) {
    if (Status s = AuthorizeTable(key, cmd.table_set().name(), /*write=*/true); !s.ok()) return s;
  }
  if (cmd.has_access_key_set()) {
    auth::Principal existing =
        cmd.access_key_set().create() ? nullptr : keyring.FindStored(cmd.access_key_set().key().id());
    if (Status s = AuthorizeKeySet(key, existing.get(), cmd.access_key_set().key()); !s.ok()) return s;
  }
  // TTL purges are the leader's own; a forwarded one is not a client's.
  if (cmd.has_purge() || cmd.has_precomputed()) return absl::PermissionDeniedError("not a client command");
  return absl::OkStatus();
}

std::optional<storage::pb::CommandResult> DenyForwarded(const storage::pb::Command& cmd, const auth::Keyring& keyring) {
  if (cmd.auth_key_id().empty()) return std::nullopt;
  const auth::Principal key = keyring.FindStored(cmd.auth_key_id());
  const Status s = key == nullptr ? absl::PermissionDeniedError("sign denied : no AccessKey found")
                                  : AuthorizeCommand(*key, cmd, keyring);
  if (s.ok()) return std::nullopt;
  storage::pb::CommandResult denied;
  for (int i = 0; i < std::max(1, cmd.write().writers_size()); i++) *denied.add_results() = Denied(s.message());
  return denied;
}

}  // namespace kvgo::server
