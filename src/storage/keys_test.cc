#include "storage/keys.h"

#include <gtest/gtest.h>

namespace kvgo::storage::keys {
namespace {

TEST(Keys, BigEndianSortsNumerically) {
  EXPECT_LT(Log(10, 255), Log(10, 256));
  EXPECT_LT(Log(10, 101), Log(10, 1ull << 40));
  EXPECT_LT(Object(9, "zzz"), Object(10, ""));
  EXPECT_EQ(GetBig64(Log(10, 123456789012345).substr(5)), 123456789012345u);
  EXPECT_EQ(GetBig32(ObjectPrefix(0xdeadbeef).substr(1)), 0xdeadbeefu);
}

TEST(Keys, TtlOrderedByExpiryThenKey) {
  EXPECT_LT(Ttl(10, 1000, "z"), Ttl(10, 1001, "a"));
  EXPECT_LT(Ttl(10, 1000, "a"), Ttl(10, 1000, "b"));
}

TEST(Keys, PrefixEnd) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
}

}  // namespace
}  // namespace kvgo::storage::keys
