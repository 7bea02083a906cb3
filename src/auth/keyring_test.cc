#include "auth/keyring.h"

#include <gtest/gtest.h>

#include "auth/token.h"

namespace kvgo::auth {
namespace {

constexpr int64_t kNow = 1700000000000;
constexpr char kRootSecret[] = "root-secret-0123456789";

hooto::hauth::v1::AccessKey ClientKey(const std::string& id, const std::string& tables) {
  hooto::hauth::v1::AccessKey k;
  k.set_id(id);
  k.set_secret("client-secret-0123456789");
  k.add_roles("client");
  auto* s = k.add_scopes();
  s->set_name(kScopeTable);
  s->set_value(tables);
  return k;
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring.SetRootKeys({MakeRootKey("00000000", kRootSecret), MakeRootKey("00000000", "other-master-secret-0123")});
    ring.Put(ClientKey("app1", "main,t1"));
  }
  Keyring ring;
};

TEST_F(KeyringTest, RootAndOtherMasters) {
  auto p = ring.Authenticate(SignToken("00000000", kRootSecret, kNow), kNow);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ((*p)->secret(), kRootSecret);
  auto q = ring.Authenticate(SignToken("00000000", "other-master-secret-0123", kNow), kNow);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(Authorize(**q, kPermSysAll, "anything").ok());
}

TEST_F(KeyringTest, UnknownIdVerifiedByRootSecretIsRoot) {
  auto p = ring.Authenticate(SignToken("the-access-key-id", kRootSecret, kNow), kNow);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->roles(0), "sa");
  EXPECT_EQ(ring.Authenticate(SignToken("nobody", "wrong-secret-0123456789", kNow), kNow).status().message(),
            "sign denied : no AccessKey found");
}

TEST_F(KeyringTest, StoredKeyWrongSecret) {
  EXPECT_TRUE(ring.Authenticate(SignToken("app1", "client-secret-0123456789", kNow), kNow).ok());
  EXPECT_EQ(ring.Authenticate(SignToken("app1", "bad", kNow), kNow).status().message(), "sign denied");
  EXPECT_EQ(ring.Authenticate("", kNow).status().message(), "access_token not found");
}

TEST(Authorize, ScopesAndRoles) {
  auto k = ClientKey("app1", "main, t1");
  EXPECT_TRUE(Authorize(k, kPermTableRead, "main").ok());
  EXPECT_EQ(Authorize(k, kPermTableRead, "t2").message(), "access_key/scopes/value=t2 not match");
  EXPECT_EQ(Authorize(k, kPermTableRead, "").message(), "access_key/scopes/value= not match");
  EXPECT_EQ(Authorize(k, kPermSysAll, "main").message(), "permission=sys/all not allow");
  k.clear_roles();
  k.add_roles("guest");
  EXPECT_EQ(Authorize(k, kPermTableRead, "main").message(), "access_key/roles not found");
  k.clear_scopes();
  EXPECT_EQ(Authorize(k, kPermTableRead, "main").message(), "access_key/scopes not found");
  auto* s = k.add_scopes();
  s->set_name("other");
  EXPECT_EQ(Authorize(k, kPermTableRead, "main").message(), "access_key/scopes/name=kvgo/table not match");
}

TEST(NormalizeAccessKey, Rules) {
  hooto::hauth::v1::AccessKey k;
  k.add_roles("admin");
  EXPECT_EQ(NormalizeAccessKey(&k).message(), "invalid roles settings");
  k.add_roles("client");
  auto* s = k.add_scopes();
  s->set_name(kScopeTable);
  s->set_value("  ");
  EXPECT_EQ(NormalizeAccessKey(&k).message(), "scope value not found");
  s->set_value(" main ");
  auto* other = k.add_scopes();
  other->set_name("x/y");
  other->set_value("1");
  ASSERT_TRUE(NormalizeAccessKey(&k).ok());
  ASSERT_EQ(k.roles_size(), 1);
  EXPECT_EQ(k.roles(0), "client");
  ASSERT_EQ(k.scopes_size(), 1);
  EXPECT_EQ(k.scopes(0).value(), "main");
}

}  // namespace
}  // namespace kvgo::auth
