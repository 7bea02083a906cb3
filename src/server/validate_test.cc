#include "server/validate.h"

#include <gtest/gtest.h>

#include "common/checksum.h"
#include "common/kvspec.h"

namespace kvgo::server {
namespace {

namespace kv = lynkdb::kvspec::v2;

std::string Check(kv::ObjectWriter w) {
  kv::ObjectResult err;
  if (ValidateWriter(&w, &err)) return "ok";
  EXPECT_EQ(err.status(), kvspec::kStatusClientError);
  return err.message();
}

kv::ObjectWriter Writer(const std::string& key) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key(key);
  w.mutable_data()->set_value(std::string("\0demo-value", 11));
  return w;
}

TEST(ValidateWriter, OrderAndMessages) {
  kv::ObjectWriter w;
  EXPECT_EQ(Check(w), "Meta Not Found");
  EXPECT_EQ(Check(Writer("")), "Invalid Meta/Key (len 0)");
  EXPECT_EQ(Check(Writer(std::string(257, 'k'))), "Invalid Meta/Key (len 257)");
  EXPECT_EQ(Check(Writer(std::string(256, 'k'))), "ok");
  auto x = Writer("k");
  x.mutable_meta()->set_extra(std::string(129, 'e'));
  EXPECT_EQ(Check(x), "Invalid Meta/Extra (len 129)");
  auto ns = Writer("k");
  ns.set_incr_namespace("Bad");
  EXPECT_EQ(Check(ns), "Invalid IncrNamespace");
  auto nd = Writer("k");
  nd.clear_data();
  EXPECT_EQ(Check(nd), "Data Not Found");
  auto sum = Writer("k");
  sum.mutable_data()->set_check(42);
  EXPECT_EQ(Check(sum), "Invalid Value Sum Check");
  // A delete needs no data and ignores the namespace.
  auto del = Writer("k");
  del.clear_data();
  del.set_mode(kvspec::kWriteModeDelete);
  del.set_incr_namespace("Bad");
  EXPECT_EQ(Check(del), "ok");
}

TEST(ValidateWriter, FillsCheckAndDefaults) {
  auto w = Writer("k");
  w.mutable_meta()->set_incr_id(5);
  kv::ObjectResult err;
  ASSERT_TRUE(ValidateWriter(&w, &err));
  EXPECT_EQ(w.table_name(), "main");
  EXPECT_EQ(w.incr_namespace(), "meta");
  EXPECT_EQ(w.data().check(), 4077445546u);
  EXPECT_EQ(w.meta().data_check(), 4077445546u);
}

TEST(Names, Patterns) {
  EXPECT_TRUE(ValidTableName("t1-x_y/z:w.v"));
  EXPECT_FALSE(ValidTableName("abc"));  // 4 characters at least
  EXPECT_FALSE(ValidTableName("1abc"));
  EXPECT_FALSE(ValidTableName(std::string(65, 'a')));
  EXPECT_TRUE(ValidIncrNamespace("meta"));
  EXPECT_FALSE(ValidIncrNamespace("me-ta"));
  EXPECT_TRUE(ValidAccessKeyId("0123abcd"));
  EXPECT_FALSE(ValidAccessKeyId("the-access-key-id"));
}

}  // namespace
}  // namespace kvgo::server
