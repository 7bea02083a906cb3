// Store and its LevelDB environment: the properties the rest relies on.
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

// The LevelDB we link (packaging/scripts/build-static-deps.sh) has
// seek-triggered compaction off: lookups that pass over a file must not get
// it compacted. Stock LevelDB compacts a file after 100 such lookups (with
// bloom filters they cost no disk seek), which under random updates kept the
// compaction thread rewriting the bottom level (docs/performance.md).
TEST(StoreEnvTest, LookupsDoNotTriggerCompactions) {
  const std::string dir = ::testing::TempDir() + "/kvgo-seek-test-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  struct RemoveAtExit {
    std::string dir;
    ~RemoveAtExit() { std::filesystem::remove_all(dir); }
  } remove_at_exit{dir};  // declared before the store: removed after it closed
  StoreOptions o;
  o.data_directory = dir;
  o.write_buffer_size = 64 << 10;
  auto store = Store::Open(o).value();
  auto key = [](int i) {
    char b[16];
    snprintf(b, sizeof b, "k%05d", i);
    return std::string(b);
  };
  std::mt19937 rng(1);
  auto value = [&] {
    std::string v(200, ' ');
    for (char& c : v) c = static_cast<char>('a' + rng() % 26);
    return v;
  };
  for (int i = 0; i < 2000; i++) {
    leveldb::WriteBatch b;
    b.Put(key(i), value());
    ASSERT_TRUE(store->Write(&b).ok());
  }
  store->db()->CompactRange(nullptr, nullptr);  // everything below level 0
  // A newer file over the whole key range, on a level above the old data's.
  for (int i = 0; i < 2000; i += 4) {
    leveldb::WriteBatch b;
    b.Put(key(i), value());
    ASSERT_TRUE(store->Write(&b).ok());
  }
  auto layout = [&] {
    std::string l;
    for (int level = 0; level < 7; level++)
      l += store->Property("leveldb.num-files-at-level" + std::to_string(level)) + " ";
    return l;
  };
  // Flushes the memtable and waits for it: a manual compaction of a range
  // that holds no key does nothing else.
  const leveldb::Slice nowhere("zzz");
  store->db()->CompactRange(&nowhere, &nowhere);
  const std::string before = layout();
  int levels_with_files = 0;
  std::istringstream counts(before);
  for (std::string n; counts >> n;) levels_with_files += n != "0";
  ASSERT_EQ(levels_with_files, 2) << before;  // the old data, and the new files above it

  std::string v;
  for (int n = 0; n < 20000; n++) ASSERT_TRUE(store->Get(key(1 + 4 * (n % 500)), &v).ok());
  // Stock LevelDB compacts the upper file within milliseconds of the
  // 100th lookup that passed over it; watch for a second.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(layout(), before) << "a compaction ran after lookups only";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Unsynced writes (cluster mode's applied entries) rely on LevelDB's writes
// reaching the disk in order: the write-ahead log LevelDB switches away
// from must be synced as it is closed (storage/env.h).
TEST(StoreEnvTest, SwitchedAwayWriteAheadLogsAreSyncedAndUnsyncedWritesSurviveReopen) {
  const std::string dir = ::testing::TempDir() + "/kvgo-env-test-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  const uint64_t before = WalSyncsOnClose();
  {
    StoreOptions o;
    o.data_directory = dir;
    o.write_buffer_size = 64 << 10;  // a new log every ~64 KiB
    auto store = Store::Open(o).value();
    const std::string value(1000, 'x');
    for (int i = 0; i < 1000; i++) {
      leveldb::WriteBatch b;
      b.Put("k" + std::to_string(i), value);
      ASSERT_TRUE(store->Write(&b).ok());
    }
    // ~1 MB through 64 KiB memtables: LevelDB switched logs many times.
    EXPECT_GE(WalSyncsOnClose() - before, 5u);
  }
  auto store = Store::Open(StoreOptions{dir}).value();
  std::string v;
  for (int i = 0; i < 1000; i += 97) ASSERT_TRUE(store->Get("k" + std::to_string(i), &v).ok()) << i;
  ASSERT_TRUE(store->Get("k999", &v).ok());
  store.reset();  // closed first: its compaction thread may still be writing files
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kvgo::storage
