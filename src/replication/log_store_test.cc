// PaxosLogStore (log_store.h), the acceptor's durable state over the WAL:
// the promise survives compaction, compacted entries stay out of Load, a
// restart appends after a torn tail, and a wipe forgets entries and data but
// keeps the promise.
#include "replication/log_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "replication/codec.h"
#include "storage/keys.h"

namespace kvgo::replication {
namespace {

namespace fs = std::filesystem;

consensus::Entry MakeEntry(consensus::Slot slot, uint64_t round, const std::string& value) {
  consensus::Entry e;
  e.slot = slot;
  e.ballot = {round, 1};
  e.data = std::make_shared<const std::string>(value);
  return e;
}

class PaxosLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("kvgo-log-store-test-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
    Reopen();
  }
  void TearDown() override {
    log.reset();
    store.reset();
    fs::remove_all(dir);
  }
  std::vector<fs::path> Segments() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir / "paxos")) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  consensus::Restored Reopen() {
    log.reset();
    store.reset();
    storage::StoreOptions o;
    o.data_directory = dir.string();
    store = std::move(storage::Store::Open(o).value());
    Wal::Options wo;
    wo.segment_bytes = 4096;
    auto opened = PaxosLogStore::Open(store.get(), wo);
    EXPECT_TRUE(opened.ok()) << opened.status();
    log = std::move(*opened);
    auto r = log->Load();
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : consensus::Restored{};
  }

  fs::path dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<PaxosLogStore> log;
};

TEST_F(PaxosLogStoreTest, ThePromiseSurvivesCompactionOfEverySegmentItWasWrittenIn) {
  consensus::HardState hs;
  hs.promised = {5, 2};
  ASSERT_TRUE(log->Persist(hs, {MakeEntry(1, 5, "one")}).ok());
  for (consensus::Slot s = 2; s <= 100; s++) {
    ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(s, 5, std::string(200, 'x'))}).ok());
  }
  ASSERT_GT(log->wal_segments(), 3u);
  // An entry re-accepted at a higher ballot: the later record wins.
  ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(99, 6, "again")}).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(log->Compact(90))) << "nothing is applied yet";
  leveldb::WriteBatch b;
  PaxosLogStore::PutApplied(95, &b);
  ASSERT_TRUE(store->WriteSync(&b).ok());
  const size_t before = log->wal_segments();
  ASSERT_TRUE(log->Compact(90).ok());
  EXPECT_LT(log->wal_segments(), before) << "segments holding only slots <= 90 are gone";
  EXPECT_GE(log->wal_segments(), 2u);

  consensus::Restored r = Reopen();
  EXPECT_EQ(r.hard_state.promised.round, 5u);
  EXPECT_EQ(r.hard_state.promised.node, 2u);
  EXPECT_EQ(r.applied, 95u);
  EXPECT_EQ(r.compacted, 90u);
  ASSERT_TRUE(r.entries.count(99));
  EXPECT_EQ(r.entries.at(99).value(), "again");
  EXPECT_EQ(r.entries.at(99).ballot.round, 6u);
  EXPECT_EQ(r.entries.size(), 10u) << "slots 91-100, every one of them";
  EXPECT_EQ(r.entries.begin()->first, 91u);
}

TEST_F(PaxosLogStoreTest, LoadSkipsCompactedEntries) {
  ASSERT_TRUE(log->Persist(consensus::HardState{{3, 1}}, {MakeEntry(1, 3, "a"), MakeEntry(2, 3, "b")}).ok());
  ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(3, 3, "c")}).ok());
  leveldb::WriteBatch b;
  PaxosLogStore::PutApplied(3, &b);
  ASSERT_TRUE(store->WriteSync(&b).ok());
  ASSERT_TRUE(log->Compact(2).ok());
  consensus::Restored r = Reopen();
  EXPECT_EQ(r.applied, 3u);
  EXPECT_EQ(r.compacted, 2u);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries.begin()->second.value(), "c");
}

TEST_F(PaxosLogStoreTest, ARestartAppendsToTheLastSegmentAfterItsTornTail) {
  ASSERT_TRUE(log->Persist(consensus::HardState{{2, 1}}, {MakeEntry(1, 2, "a")}).ok());
  const size_t segments = log->wal_segments();
  Reopen();
  Reopen();
  EXPECT_EQ(log->wal_segments(), segments) << "no segment per restart";
  ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(2, 2, "b")}).ok());
  log.reset();
  const fs::path last = Segments().back();
  fs::resize_file(last, fs::file_size(last) - 3);  // slot 2's record torn
  consensus::Restored r = Reopen();
  ASSERT_EQ(r.entries.size(), 1u);
  ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(3, 2, "c")}).ok());
  r = Reopen();
  EXPECT_EQ(r.hard_state.promised.round, 2u);
  ASSERT_EQ(r.entries.size(), 2u) << "slot 3 follows the cut, readable";
  EXPECT_EQ(r.entries.at(1).value(), "a");
  EXPECT_EQ(r.entries.at(3).value(), "c");
  EXPECT_EQ(log->wal_segments(), segments);
}

TEST_F(PaxosLogStoreTest, WipeDataForgetsEntriesAndDataButKeepsThePromise) {
  ASSERT_TRUE(log->Persist(consensus::HardState{{8, 3}}, {MakeEntry(1, 8, "a"), MakeEntry(2, 8, "b")}).ok());
  leveldb::WriteBatch b;
  b.Put("t-some-kv-key", "v");
  PaxosLogStore::PutApplied(2, &b);
  PaxosLogStore::PutInstalling(&b);  // an interrupted snapshot install
  ASSERT_TRUE(store->WriteSync(&b).ok());

  consensus::Restored r = Reopen();  // Load wipes because of the marker
  EXPECT_EQ(r.hard_state.promised.round, 8u);
  EXPECT_EQ(r.hard_state.promised.node, 3u);
  EXPECT_TRUE(r.entries.empty());
  EXPECT_EQ(r.applied, 0u);
  std::string v;
  EXPECT_TRUE(absl::IsNotFound(store->Get("t-some-kv-key", &v)));

  r = Reopen();  // and stays wiped, with the promise
  EXPECT_EQ(r.hard_state.promised.round, 8u);
  EXPECT_TRUE(r.entries.empty());
}

TEST_F(PaxosLogStoreTest, AWipeInterruptedBeforeOldSegmentsWereDeletedStillForgetsTheirEntries) {
  ASSERT_TRUE(log->Persist(consensus::HardState{{8, 3}}, {MakeEntry(1, 8, "a"), MakeEntry(2, 8, "b")}).ok());
  // Keep copies of the segments as they were, then wipe, then put the
  // copies back: as if the process died before deleting them.
  const fs::path saved = dir / "saved";
  fs::create_directories(saved);
  for (const auto& seg : Segments()) fs::copy_file(seg, saved / seg.filename());
  ASSERT_TRUE(log->WipeData().ok());
  ASSERT_TRUE(log->Persist(std::nullopt, {MakeEntry(7, 8, "after the wipe")}).ok());
  for (const auto& seg : fs::directory_iterator(saved)) {
    fs::copy_file(seg.path(), dir / "paxos" / seg.path().filename(), fs::copy_options::skip_existing);
  }
  consensus::Restored r = Reopen();
  EXPECT_EQ(r.hard_state.promised.round, 8u);
  ASSERT_EQ(r.entries.size(), 1u) << "the reset record hides slots 1 and 2";
  EXPECT_EQ(r.entries.begin()->first, 7u);
}

}  // namespace
}  // namespace kvgo::replication
