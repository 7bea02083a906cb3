#include "cli/cli.h"

#include <gtest/gtest.h>

namespace kvgo::cli {
namespace {

TEST(SplitWords, QuotesAndEscapes) {
  std::vector<std::string> w;
  ASSERT_TRUE(SplitWords("put  key 'a value'  \"x \\\"y\\\"\" a\\ b", &w));
  EXPECT_EQ(w, (std::vector<std::string>{"put", "key", "a value", "x \"y\"", "a b"}));
  ASSERT_TRUE(SplitWords("   ", &w));
  EXPECT_TRUE(w.empty());
  ASSERT_TRUE(SplitWords("get ''", &w));
  EXPECT_EQ(w, (std::vector<std::string>{"get", ""}));
  EXPECT_FALSE(SplitWords("put 'open", &w));
}

TEST(DisplayValue, TypeBytes) {
  EXPECT_EQ(DisplayValue(std::string("\0hello", 6)), "hello");
  EXPECT_EQ(DisplayValue("\x02{\"a\":1}"), "{\"a\":1}");
  EXPECT_EQ(DisplayValue(std::string("\0\x01\x02", 3)), "0x0102");
  EXPECT_EQ(DisplayValue(""), "");
}

}  // namespace
}  // namespace kvgo::cli
