#include "auth/token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/kvspec.h"

namespace kvgo::auth {
namespace {

std::string B64NoPad(std::string_view bytes) {
  std::string out = absl::Base64Escape(absl::string_view(bytes.data(), bytes.size()));
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::string Sign(std::string_view payload, std::string_view secret) {
  std::string buf;
  buf.reserve(payload.size() + secret.size());
  buf.append(payload);
  buf.append(secret);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(buf.data()), buf.size(), digest);
  return B64NoPad(std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

std::string SignToken(const std::string& key_id, const std::string& secret, int64_t created_ms,
                      const std::string& user) {
  hooto::hauth::v1::AppPayload p;
  p.set_id(key_id);
  p.set_user(user);
  p.set_created(created_ms);
  std::string payload;
  p.SerializeToString(&payload);
  return absl::StrCat("2.", B64NoPad(payload), ".", Sign(payload, secret));
}

Status ParseToken(std::string_view token, int64_t now_ms, ParsedToken* out) {
  const size_t n1 = token.find('.');
  const size_t n2 = token.rfind('.');
  if (n1 == std::string_view::npos || n1 == 0 || n1 >= n2 || n2 + 2 >= token.size() || token.substr(0, n1) != "2") {
    return absl::PermissionDeniedError("access_token not found");
  }
  std::string_view p = token.substr(n1 + 1, n2 - n1 - 1);
  if (size_t eq = p.find('='); eq != std::string_view::npos) p = p.substr(0, eq);
  std::string bytes;
  if (!absl::Base64Unescape(absl::string_view(p.data(), p.size()), &bytes)) {
    return absl::PermissionDeniedError("invalid payload data, err illegal base64 data");
  }
  hooto::hauth::v1::AppPayload payload;
  if (!payload.ParseFromString(bytes)) {
    return absl::PermissionDeniedError("invalid payload data, err proto: cannot parse invalid wire-format data");
  }
  if (payload.id().size() < 4) {
    return absl::PermissionDeniedError("payload/access_key id not found");
  }
  const int64_t created = payload.created();
  if (created < 1000000000 || std::llabs(now_ms - created) > kvspec::kAuthWindowMs) {
    return absl::PermissionDeniedError("invalid request time");
  }
  out->payload = std::move(payload);
  out->payload_bytes = std::move(bytes);
  out->signature = std::string(token.substr(n2 + 1));
  return absl::OkStatus();
}

bool VerifySignature(const ParsedToken& token, std::string_view secret) {
  std::string want = Sign(token.payload_bytes, secret);
  return want.size() == token.signature.size() && CRYPTO_memcmp(want.data(), token.signature.data(), want.size()) == 0;
}

}  // namespace kvgo::auth
