// Errors are values. kvgo uses absl::Status / absl::StatusOr (already a
// dependency of gRPC and protobuf): an OK status costs one word and no
// allocation, and both types are [[nodiscard]].
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvgo {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

}  // namespace kvgo
