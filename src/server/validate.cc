#include "server/validate.h"

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "common/checksum.h"
#include "common/kvspec.h"
#include "common/limits.h"

namespace kvgo::server {

namespace kv = lynkdb::kvspec::v2;

namespace {

bool Fail(kv::ObjectResult* error, std::string message) {
  error->set_status(kvspec::kStatusClientError);
  error->set_message(std::move(message));
  return false;
}

}  // namespace

bool ValidTableName(const std::string& name) {
  static const re2::RE2 re(kvspec::kTableNamePattern);
  return re2::RE2::FullMatch(name, re);
}

bool ValidIncrNamespace(const std::string& ns) {
  static const re2::RE2 re(kvspec::kIncrNamespacePattern);
  return re2::RE2::FullMatch(ns, re);
}

bool ValidAccessKeyId(const std::string& id) {
  static const re2::RE2 re(kvspec::kAccessKeyIdPattern);
  return re2::RE2::FullMatch(id, re);
}

bool ValidateWriter(kv::ObjectWriter* w, kv::ObjectResult* error) {
  // A write that could be stored but never read back (its reply would
  // exceed the 12 MiB message limit) is refused: common/limits.h.
  if (const size_t size = w->ByteSizeLong(); size > limits::kMaxWriterBytes) {
    return Fail(error, absl::StrCat("Write Too Large (", size, " bytes encoded, at most ", limits::kMaxWriterBytes,
                                    ": the value and its key must stay 64 KiB below the 12 MiB message limit)"));
  }
  if (w->table_name().empty()) w->set_table_name(kvspec::kMainTable);
  if (!w->has_meta()) return Fail(error, "Meta Not Found");
  kv::ObjectMeta* meta = w->mutable_meta();
  if (meta->key().empty() || meta->key().size() > kvspec::kKeyMaxLen) {
    return Fail(error, absl::StrCat("Invalid Meta/Key (len ", meta->key().size(), ")"));
  }
  if (meta->extra().size() > kvspec::kExtraMaxLen) {
    return Fail(error, absl::StrCat("Invalid Meta/Extra (len ", meta->extra().size(), ")"));
  }
  if (w->mode() & kvspec::kWriteModeDelete) {
    w->clear_incr_namespace();
    w->clear_data();
    return true;
  }
  if (meta->incr_id() > 0 && w->incr_namespace().empty()) {
    w->set_incr_namespace(kvspec::kDefaultIncrNamespace);
  }
  if ((meta->incr_id() > 0 || !w->incr_namespace().empty()) && !ValidIncrNamespace(w->incr_namespace())) {
    return Fail(error, "Invalid IncrNamespace");
  }
  if (!w->has_data()) return Fail(error, "Data Not Found");
  kv::ObjectData* data = w->mutable_data();
  const uint64_t check = ValueCheck(data->value());
  if (data->check() > 0 && data->check() != check) return Fail(error, "Invalid Value Sum Check");
  data->set_check(check);
  meta->set_data_check(check);
  meta->set_data_attrs(data->attrs());
  return true;
}

}  // namespace kvgo::server
