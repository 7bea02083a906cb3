// Checksums of the kvspec wire format.
#pragma once

#include <cstdint>
#include <string_view>

namespace kvgo {

// The kvspec value check: CRC32-IEEE (zlib's crc32) of `value`, with a
// result of 0 replaced by 1 so that 0 can mean "not computed".
uint64_t ValueCheck(std::string_view value);

}  // namespace kvgo
