// Authorisation of the Public API beyond the reference's single check
// (docs/wire-api.md 8.6), as README "Access keys" states it:
//   - a table is authorised by the name it resolves to ("" is main), so an
//     item of a BatchCommit is checked against the table it really uses;
//   - table `sys`, SysStatus and SysMetrics need a full administrator: role
//     sa with table scope "*" (every root key);
//   - a scoped administrator (role sa, a list of tables) manages only access
//     keys whose tables all lie in its own list, and cannot widen them;
//   - no secret of a root key is ever returned.
// Pure functions of their arguments; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/keyring.h"
#include "common/status.h"
#include "hauth.pb.h"
#include "storage.pb.h"

namespace kvgo::server {

// "" -> "main"; any other name as sent.
std::string ResolvedTable(const std::string& table_as_sent);

// The tables of `key`'s kvgo/table scope, trimmed, without empty entries:
// {"*"} when the scope is "*" alone (every table); a "*" inside a list
// counts for nothing, as auth::Authorize reads it.
std::vector<std::string> ScopeTables(const hooto::hauth::v1::AccessKey& key);

// Role sa and table scope "*".
bool IsFullAdmin(const hooto::hauth::v1::AccessKey& key);
// Role sa (any scope): may call AccessKeySet/AccessKeyList.
bool IsAdmin(const hooto::hauth::v1::AccessKey& key);

// Reading (write = false) or writing table `table` (resolved). Returns
// PermissionDenied whose message follows "Access Denied : " (empty for the
// sys table, as the reference answers exactly "Access Denied").
Status AuthorizeTable(const hooto::hauth::v1::AccessKey& key, const std::string& table, bool write);

// Whether every table `key` reaches is one `admin` reaches.
bool WithinScope(const hooto::hauth::v1::AccessKey& admin, const hooto::hauth::v1::AccessKey& key);

// AccessKeySet by `admin`: `existing` (nullptr when creating) and the
// resulting `key` must both lie within the admin's scope.
Status AuthorizeKeySet(const hooto::hauth::v1::AccessKey& admin, const hooto::hauth::v1::AccessKey* existing,
                       const hooto::hauth::v1::AccessKey& key);

// Every table access of a state-machine command (writes, TableSet,
// AccessKeySet) for `key`, as the public service checked it: the leader
// checks forwarded commands again with its own, current keyring.
Status AuthorizeCommand(const hooto::hauth::v1::AccessKey& key, const storage::pb::Command& cmd,
                        const auth::Keyring& keyring);

// The leader's check of a forwarded command that carries a stored key's id
// (auth_key_id): a denial to answer with (one result per writer), or
// nullopt to propose it.
std::optional<storage::pb::CommandResult> DenyForwarded(const storage::pb::Command& cmd, const auth::Keyring& keyring);

}  // namespace kvgo::server
