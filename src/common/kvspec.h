// Constants of the kvspec v2 wire contract (docs/wire-api.md): mode and
// attribute bits, result status codes, limits and the name patterns.
#pragma once

#include <cstdint>

namespace kvgo::kvspec {

// ObjectWriter.mode bits.
inline constexpr uint64_t kWriteModeCreate = 1ull << 1;
inline constexpr uint64_t kWriteModeDelete = 1ull << 2;
inline constexpr uint64_t kWriteModeLogOff = 1ull << 8;
inline constexpr uint64_t kWriteModeDeleteDataOnly = 1ull << 16;

// ObjectReader.mode bits.
inline constexpr uint64_t kReadModeKey = 1;
inline constexpr uint64_t kReadModeKeyRange = 2;
inline constexpr uint64_t kReadModeLogRange = 4;
inline constexpr uint64_t kReadModeRevRange = 8;
inline constexpr uint64_t kReadModeMetaOnly = 1ull << 8;

// ObjectMeta.attrs bits.
inline constexpr uint64_t kAttrMetaOff = 1ull << 8;
inline constexpr uint64_t kAttrDataOff = 1ull << 9;
inline constexpr uint64_t kAttrDelete = 1ull << 32;

// ObjectResult.status values.
inline constexpr uint64_t kStatusUnset = 0;
inline constexpr uint64_t kStatusOK = 1;
inline constexpr uint64_t kStatusError = 2;
inline constexpr uint64_t kStatusNotFound = 3;
inline constexpr uint64_t kStatusClientError = 4;
inline constexpr uint64_t kStatusServerError = 5;

// Limits.
inline constexpr size_t kKeyMaxLen = 256;
inline constexpr size_t kExtraMaxLen = 128;
inline constexpr int64_t kLimitNumMax = 100000;
inline constexpr int64_t kLimitSizeMax = 8 << 20;
inline constexpr int64_t kWaitTimeMaxMs = 10000;
inline constexpr int kMaxMessageBytes = 12 << 20;
inline constexpr int64_t kAuthWindowMs = 600000;

// Counters: the first version and the first incr id handed out are 101.
inline constexpr uint64_t kCounterStart = 100;
inline constexpr uint32_t kMainTableId = 10;
inline constexpr uint32_t kSysTableId = 1;
inline constexpr uint32_t kFirstUserTableId = 101;

inline constexpr char kMainTable[] = "main";
inline constexpr char kSysTable[] = "sys";
inline constexpr char kDefaultIncrNamespace[] = "meta";
inline constexpr char kRootKeyId[] = "00000000";

// Name patterns (RE2 syntax, anchored by the caller with FullMatch).
inline constexpr char kTableNamePattern[] = "[a-z][a-z0-9\\-_/:.]{3,63}";
inline constexpr char kIncrNamespacePattern[] = "[a-z][a-z0-9_]{3,31}";
inline constexpr char kAccessKeyIdPattern[] = "[0-9a-z][a-z0-9_]{3,31}";

}  // namespace kvgo::kvspec
