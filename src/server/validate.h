// Stateless request validation of the Public API (docs/wire-api.md 5.1
// steps 2-9): everything that can be decided without reading the store.
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "kvspec.pb.h"

namespace kvgo::server {

// Validates and normalises a Commit request in place: refuses a writer
// above limits::kMaxWriterBytes, resolves the table
// name ("" -> "main"), fills incr_namespace, computes or checks data.check
// and copies it into meta. Returns true if valid; otherwise false with
// `error` holding the status-4 result the client gets.
bool ValidateWriter(lynkdb::kvspec::v2::ObjectWriter* w, lynkdb::kvspec::v2::ObjectResult* error);

// Name patterns of docs/wire-api.md 2.6.
bool ValidTableName(const std::string& name);
bool ValidIncrNamespace(const std::string& ns);
bool ValidAccessKeyId(const std::string& id);

}  // namespace kvgo::server
