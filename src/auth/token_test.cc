#include "auth/token.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace kvgo::auth {
namespace {

constexpr int64_t kCreated = 1700000000000;
constexpr char kSecret[] = "the-secret-key-of-server";
// docs/wire-api.md section 8.5, computed independently with python3.
constexpr char kSpecToken[] = "2.CggwMDAwMDAwMEiA0JX/vDE.jSRXTv3rBkpPmrH6hok4ENcAae9OFu+gHzPLIl/rkVM";

TEST(Token, WorkedExampleByteForByte) {
  EXPECT_EQ(SignToken("00000000", kSecret, kCreated), kSpecToken);
  ParsedToken t;
  ASSERT_TRUE(ParseToken(kSpecToken, kCreated, &t).ok());
  EXPECT_EQ(absl::BytesToHexString(t.payload_bytes), "0a0830303030303030304880d095ffbc31");
  EXPECT_EQ(t.payload.id(), "00000000");
  EXPECT_EQ(t.payload.created(), kCreated);
  EXPECT_TRUE(VerifySignature(t, kSecret));
  EXPECT_FALSE(VerifySignature(t, "the-secret-key-of-serveR"));
}

TEST(Token, PaddedPayloadAccepted) {
  ParsedToken t;
  std::string padded = "2.CggwMDAwMDAwMEiA0JX/vDE=.jSRXTv3rBkpPmrH6hok4ENcAae9OFu+gHzPLIl/rkVM";
  ASSERT_TRUE(ParseToken(padded, kCreated, &t).ok());
  EXPECT_TRUE(VerifySignature(t, kSecret));
}

TEST(Token, TimeWindowIsPlusMinus600Seconds) {
  ParsedToken t;
  EXPECT_TRUE(ParseToken(kSpecToken, kCreated + 600000, &t).ok());
  EXPECT_TRUE(ParseToken(kSpecToken, kCreated - 600000, &t).ok());
  EXPECT_EQ(ParseToken(kSpecToken, kCreated + 600001, &t).message(), "invalid request time");
  EXPECT_EQ(ParseToken(kSpecToken, kCreated - 600001, &t).message(), "invalid request time");
  std::string ancient = SignToken("00000000", kSecret, 999999999);
  EXPECT_EQ(ParseToken(ancient, 999999999, &t).message(), "invalid request time");
}

TEST(Token, MalformedTokens) {
  ParsedToken t;
  for (const char* bad : {"", "2", "2.", "2.abc", "3.CggwMDAwMDAwMEiA0JX/vDE.jSRX", ".CggwMDAwMDAwMEiA0JX/vDE.jSRX",
                          "2.CggwMDAw.x", "2..a"}) {
    EXPECT_EQ(ParseToken(bad, kCreated, &t).message(), "access_token not found") << bad;
  }
  EXPECT_NE(ParseToken("2.!!!!.abcd", kCreated, &t).message().find("invalid payload data"), std::string::npos);
  // Valid base64 of bytes that are not a protobuf message.
  EXPECT_NE(ParseToken("2." + absl::Base64Escape("\xff\xff\xff") + ".abcd", kCreated, &t)
                .message()
                .find("invalid payload data"),
            std::string::npos);
  EXPECT_EQ(ParseToken(SignToken("abc", kSecret, kCreated), kCreated, &t).message(), "payload/access_key id not found");
  // An empty payload decodes to an empty message: no id.
  EXPECT_EQ(ParseToken("2..ab", kCreated, &t).message(), "payload/access_key id not found");
}

}  // namespace
}  // namespace kvgo::auth
