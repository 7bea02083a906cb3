#include "replication/peer_token.h"

#include <gtest/gtest.h>

#include <vector>

namespace kvgo::replication {
namespace {

constexpr int64_t kNow = 1700000000000;
const std::string kKey(32, 'k');

TEST(PeerToken, SignedTokenVerifiesForItsMethodNodeAndClusterOnly) {
  const std::string t = SignPeerToken(kKey, "Messages", 7, 0xabc, kNow);
  EXPECT_TRUE(VerifyPeerToken(t, kKey, "Messages", 7, 0xabc, kNow + 1000).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyPeerToken(t, kKey, "InstallSnapshot", 7, 0xabc, kNow)));
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyPeerToken(t, kKey, "Messages", 8, 0xabc, kNow)));
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyPeerToken(t, kKey, "Messages", 7, 0xabd, kNow)));
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyPeerToken(t, std::string(32, 'x'), "Messages", 7, 0xabc, kNow)));
}

TEST(PeerToken, TimeWindowAndShape) {
  const std::string t = SignPeerToken(kKey, "Forward", 1, 2, kNow);
  EXPECT_TRUE(VerifyPeerToken(t, kKey, "Forward", 1, 2, kNow + 600000).ok());
  EXPECT_TRUE(absl::IsOutOfRange(VerifyPeerToken(t, kKey, "Forward", 1, 2, kNow + 600001)));
  EXPECT_TRUE(absl::IsOutOfRange(VerifyPeerToken(t, kKey, "Forward", 1, 2, kNow - 600001)));
  for (const std::string& bad :
       std::vector<std::string>{"", "1.2", "2." + std::to_string(kNow) + ".ab", "1.x.ab", "1.9223372036854775807.ab",
                                "1.-9223372036854775808.ab",
                                // a client's x-hooto-auth token
                                "2.CggwMDAwMDAwMEiA0JX/vDE.jSRXTv3rBkpPmrH6hok4ENcAae9OFu+gHzPLIl/rkVM"}) {
    const Status s = VerifyPeerToken(bad, kKey, "Forward", 1, 2, kNow);
    EXPECT_FALSE(s.ok()) << bad;
  }
  // A truncated or altered MAC.
  EXPECT_FALSE(VerifyPeerToken(t.substr(0, t.size() - 1), kKey, "Forward", 1, 2, kNow).ok());
  std::string altered = t;
  altered.back() = altered.back() == '0' ? '1' : '0';
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyPeerToken(altered, kKey, "Forward", 1, 2, kNow)));
}

}  // namespace
}  // namespace kvgo::replication
