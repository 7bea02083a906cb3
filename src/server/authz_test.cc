#include "server/authz.h"

#include <gtest/gtest.h>

namespace kvgo::server {
namespace {

hooto::hauth::v1::AccessKey Key(const std::string& role, const std::string& tables) {
  hooto::hauth::v1::AccessKey k;
  k.set_id("k1");
  k.add_roles(role);
  auto* s = k.add_scopes();
  s->set_name(auth::kScopeTable);
  s->set_value(tables);
  return k;
}

TEST(Authz, OnlyAStarAloneIsEveryTable) {
  EXPECT_TRUE(IsFullAdmin(Key("sa", "*")));
  EXPECT_TRUE(IsFullAdmin(Key("sa", " * ")));
  EXPECT_FALSE(IsFullAdmin(Key("sa", "t1,*")));  // Authorize reads it as table t1 only
  EXPECT_FALSE(IsFullAdmin(Key("client", "*")));
  EXPECT_EQ(ScopeTables(Key("sa", " orders, ,main,*")), (std::vector<std::string>{"orders", "main"}));
  EXPECT_FALSE(AuthorizeTable(Key("sa", "t1,*"), "sys", false).ok());
  EXPECT_FALSE(AuthorizeTable(Key("sa", "t1,*"), "t2", false).ok());
  EXPECT_TRUE(AuthorizeTable(Key("sa", "t1,*"), "t1", true).ok());
}

TEST(Authz, AScopedAdministratorManagesKeysWithinItsTablesOnly) {
  const auto admin = Key("sa", "orders,main");
  EXPECT_TRUE(AuthorizeKeySet(admin, nullptr, Key("client", "orders")).ok());
  EXPECT_TRUE(AuthorizeKeySet(admin, nullptr, Key("sa", "main, orders")).ok());
  EXPECT_FALSE(AuthorizeKeySet(admin, nullptr, Key("client", "*")).ok());
  EXPECT_FALSE(AuthorizeKeySet(admin, nullptr, Key("client", "orders,secret")).ok());
  const auto wide = Key("client", "secret");
  EXPECT_FALSE(AuthorizeKeySet(admin, &wide, Key("client", "orders")).ok());  // taking over a key beyond it
  EXPECT_FALSE(AuthorizeKeySet(Key("client", "*"), nullptr, Key("client", "orders")).ok());
  EXPECT_TRUE(AuthorizeKeySet(Key("sa", "*"), &wide, Key("client", "*")).ok());
}

TEST(Authz, TablesResolveBeforeTheyAreChecked) {
  EXPECT_EQ(ResolvedTable(""), "main");
  // A trailing comma no longer grants the empty name, i.e. main.
  EXPECT_FALSE(AuthorizeTable(Key("client", "orders,"), ResolvedTable(""), false).ok());
  EXPECT_TRUE(AuthorizeTable(Key("client", "orders,main"), ResolvedTable(""), false).ok());
  EXPECT_FALSE(AuthorizeTable(Key("client", "*"), "sys", false).ok());
  EXPECT_TRUE(AuthorizeTable(Key("sa", "*"), "sys", true).ok());
}

}  // namespace
}  // namespace kvgo::server
