// The in-band results every Public RPC handler answers with
// (docs/wire-api.md 2.4: status 4 for the client's errors, 5 for the
// server's). Thread-safe (pure).
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/kvspec.h"
#include "kvspec.pb.h"

namespace kvgo::server {

inline constexpr char kDenied[] = "Access Denied";

// "Access Denied", or "Access Denied : <reason>".
inline lynkdb::kvspec::v2::ObjectResult Denied(absl::string_view reason = "") {
  lynkdb::kvspec::v2::ObjectResult r;
  r.set_status(kvspec::kStatusClientError);
  r.set_message(reason.empty() ? std::string(kDenied) : absl::StrCat(kDenied, " : ", reason));
  return r;
}

inline lynkdb::kvspec::v2::ObjectResult ClientError(std::string message) {
  lynkdb::kvspec::v2::ObjectResult r;
  r.set_status(kvspec::kStatusClientError);
  r.set_message(std::move(message));
  return r;
}

inline lynkdb::kvspec::v2::ObjectResult ServerError(std::string message) {
  lynkdb::kvspec::v2::ObjectResult r;
  r.set_status(kvspec::kStatusServerError);
  r.set_message(std::move(message));
  return r;
}

}  // namespace kvgo::server
