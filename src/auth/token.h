// The x-hooto-auth token of hooto/hauth v0.1.0 (docs/wire-api.md, section
// "Authentication"): "2." B64(payload) "." B64(SHA-256(payload || secret)),
// where payload is the protobuf hooto.hauth.v1.AppPayload and B64 is the
// standard alphabet without padding. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "hauth.pb.h"

namespace kvgo::auth {

// The gRPC metadata key that carries the token.
inline constexpr char kTokenHeader[] = "x-hooto-auth";

// Builds a token as the kvgo SDK does: payload {id, user, created}.
std::string SignToken(const std::string& key_id, const std::string& secret, int64_t created_ms,
                      const std::string& user = "");

struct ParsedToken {
  hooto::hauth::v1::AppPayload payload;
  std::string payload_bytes;  // decoded payload, exactly as sent
  std::string signature;      // the text after the last '.'
};

// Steps 2-5 of the reference validation: grammar, payload decoding, id
// length and the +-600 s window around `now_ms`. On failure returns
// PermissionDenied whose message is the reference's reason text
// ("access_token not found", "invalid request time", ...).
Status ParseToken(std::string_view token, int64_t now_ms, ParsedToken* out);

// Step 7: true if the signature was made with `secret`. Compares in
// constant time.
bool VerifySignature(const ParsedToken& token, std::string_view secret);

}  // namespace kvgo::auth
