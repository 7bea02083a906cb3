#include "replication/peer_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/kvspec.h"

namespace kvgo::replication {

namespace {

std::string Mac(std::string_view key, std::string_view method, uint32_t node, uint64_t cluster_id, int64_t ms) {
  const std::string msg = absl::StrCat("1\n", absl::string_view(method.data(), method.size()), "\n", node, "\n",
                                       absl::Hex(cluster_id), "\n", ms);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), out, &len);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), len));
}

}  // namespace

std::string SignPeerToken(std::string_view key, std::string_view method, uint32_t node, uint64_t cluster_id,
                          int64_t unix_ms) {
  return absl::StrCat("1.", unix_ms, ".", Mac(key, method, node, cluster_id, unix_ms));
}

Status VerifyPeerToken(std::string_view token, std::string_view key, std::string_view method, uint32_t node,
                       uint64_t cluster_id, int64_t now_ms) {
  const std::vector<absl::string_view> parts = absl::StrSplit(absl::string_view(token.data(), token.size()), '.');
  int64_t ms = 0;
  // The time in its one decimal spelling: the MAC covers that spelling.
  if (parts.size() != 3 || parts[0] != "1" || !absl::SimpleAtoi(parts[1], &ms) || absl::StrCat(ms) != parts[1]) {
    return absl::InvalidArgumentError("no peer token (a client credential is never one)");
  }
  // Subtracting first would overflow for a time far from now.
  if (ms < now_ms - kvspec::kAuthWindowMs || ms > now_ms + kvspec::kAuthWindowMs) {
    return absl::OutOfRangeError("its token's time is more than 10 minutes off this node's clock");
  }
  const std::string want = Mac(key, method, node, cluster_id, ms);
  if (parts[2].size() != want.size() || CRYPTO_memcmp(parts[2].data(), want.data(), want.size()) != 0) {
    return absl::PermissionDeniedError("signed with another peer key");
  }
  return absl::OkStatus();
}

}  // namespace kvgo::replication
