// PowerLossEnv: a power cut drops exactly what was not synced, under the
// directory that lost power, and nothing written without power lands.
#include "storage/power_loss_env.h"

#include <gtest/gtest.h>
#include <leveldb/write_batch.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/env.h"
#include "storage/store.h"

namespace kvgo::storage {
namespace {

struct Scratch {
  std::string dir = ::testing::TempDir() + "/kvgo-power-" + std::to_string(getpid());
  Scratch() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir + "/a");
    std::filesystem::create_directories(dir + "/b");
  }
  ~Scratch() { std::filesystem::remove_all(dir); }
};

std::string Read(leveldb::Env* env, const std::string& path) {
  std::string data;
  EXPECT_TRUE(leveldb::ReadFileToString(env, path, &data).ok()) << path;
  return data;
}

TEST(PowerLossEnv, ACutKeepsWhatWasSyncedAndOnlyUnderItsDirectory) {
  Scratch s;
  PowerLossEnv env(leveldb::Env::Default());
  auto open = [&](const std::string& path) {
    leveldb::WritableFile* f = nullptr;
    EXPECT_TRUE(env.NewWritableFile(path, &f).ok());
    return std::unique_ptr<leveldb::WritableFile>(f);
  };
  const std::string a = s.dir + "/a/file", b = s.dir + "/b/file", gone = s.dir + "/a/old";
  auto fa = open(a);
  auto fb = open(b);
  auto fg = open(gone);
  ASSERT_TRUE(fg->Append("old").ok() && fg->Sync().ok() && fg->Close().ok());
  ASSERT_TRUE(fa->Append("synced").ok() && fa->Sync().ok());
  ASSERT_TRUE(fa->Append("+buffered").ok());
  ASSERT_TRUE(fb->Append("other").ok() && fb->Flush().ok());

  env.PowerOff(s.dir + "/a");
  ASSERT_TRUE(fa->Append("+after").ok() && fa->Sync().ok());
  ASSERT_TRUE(env.RemoveFile(gone).ok());
  auto fnew = open(s.dir + "/a/new");
  ASSERT_TRUE(fnew->Append("x").ok() && fnew->Sync().ok() && fnew->Close().ok());
  ASSERT_TRUE(fa->Close().ok());
  EXPECT_EQ(env.PowerOn(s.dir + "/a"), std::string("+buffered").size());

  EXPECT_EQ(Read(&env, a), "synced");
  EXPECT_EQ(Read(&env, gone), "old") << "a deletion without power happened";
  EXPECT_FALSE(env.FileExists(s.dir + "/a/new")) << "a file created without power exists";
  ASSERT_TRUE(fb->Close().ok());
  EXPECT_EQ(Read(&env, b), "other") << "the cut reached another directory";

  // Powered again: writes land and a later cut keeps them once synced.
  auto again = std::unique_ptr<leveldb::WritableFile>();
  {
    leveldb::WritableFile* f = nullptr;
    ASSERT_TRUE(env.NewAppendableFile(a, &f).ok());
    again.reset(f);
  }
  ASSERT_TRUE(again->Append("+more").ok() && again->Sync().ok() && again->Close().ok());
  env.PowerOff(s.dir + "/a");
  EXPECT_EQ(env.PowerOn(s.dir + "/a"), 0u);
  EXPECT_EQ(Read(&env, a), "synced+more");
}

// The Store over it: a synced write survives a cut, a later unsynced one
// does not, and the store opens again.
TEST(PowerLossEnv, AStoreLosesItsUnsyncedWritesOnly) {
  Scratch s;
  PowerLossEnv disk(leveldb::Env::Default());
  auto env = NewStorageEnv(&disk);
  StoreOptions o;
  o.data_directory = s.dir + "/a/db";
  o.env = env.get();
  for (bool cut : {false, true}) {
    std::filesystem::remove_all(o.data_directory);
    auto store = Store::Open(o).value();
    leveldb::WriteBatch synced, unsynced;
    synced.Put("synced", "1");
    unsynced.Put("unsynced", "2");
    ASSERT_TRUE(store->WriteSync(&synced).ok());
    ASSERT_TRUE(store->Write(&unsynced).ok());
    if (cut) disk.PowerOff(s.dir + "/a");
    store.reset();
    if (cut) {
      EXPECT_GT(disk.PowerOn(s.dir + "/a"), 0u);
    }
    store = Store::Open(o).value();
    std::string v;
    EXPECT_TRUE(store->Get("synced", &v).ok()) << "cut " << cut;
    EXPECT_EQ(store->Get("unsynced", &v).ok(), !cut) << "cut " << cut;
  }
}

}  // namespace
}  // namespace kvgo::storage
