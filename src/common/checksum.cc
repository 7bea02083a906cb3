#include "common/checksum.h"

#include <zlib.h>

namespace kvgo {

uint64_t ValueCheck(std::string_view value) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed values larger than 4 GiB in pieces.
  const auto* p = reinterpret_cast<const Bytef*>(value.data());
  size_t left = value.size();
  while (left > 0) {
    uInt n = left > (1u << 30) ? (1u << 30) : static_cast<uInt>(left);
    crc = crc32(crc, p, n);
    p += n;
    left -= n;
  }
  return crc == 0 ? 1 : static_cast<uint64_t>(crc);
}

}  // namespace kvgo
