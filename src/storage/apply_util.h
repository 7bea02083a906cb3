// Helpers of StateMachine's apply code (state_machine.cc,
// apply_writer.cc). Internal to storage/.
#pragma once

#include <cstdint>
#include <string>

#include "kvspec.pb.h"
#include "storage/keys.h"

namespace kvgo::storage::apply {

inline lynkdb::kvspec::v2::ObjectResult Result(uint64_t status, std::string message = "") {
  lynkdb::kvspec::v2::ObjectResult r;
  r.set_status(status);
  r.set_message(std::move(message));
  return r;
}

// A counter's value as stored: 8 bytes, big-endian.
inline std::string EncodeU64(uint64_t v) {
  std::string s;
  keys::PutBig64(&s, v);
  return s;
}

}  // namespace kvgo::storage::apply
