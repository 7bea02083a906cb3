// The Paxos WAL (wal.h) and the log store on top of it (log_store.h):
// records come back in order across segments and reopenings, a torn tail
// is cut off, corruption elsewhere is refused, segments are dropped only
// when nothing in them is needed, and a log kept in LevelDB by an older
// version is moved into the WAL.
#include "replication/wal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "replication/codec.h"
#include "replication/log_store.h"
#include "storage/keys.h"

namespace kvgo::replication {
namespace {

namespace fs = std::filesystem;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("kvgo-wal-test-" + std::to_string(getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::vector<fs::path> Segments() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir / "paxos")) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
  static Wal::Record Rec(uint64_t tag, size_t size = 100) {
    return {7, tag, std::string(size, static_cast<char>('a' + tag % 26))};
  }
  std::unique_ptr<Wal> OpenWal(std::vector<Wal::Record>* out, uint64_t segment_bytes = 1000) {
    Wal::Options o;
    o.segment_bytes = segment_bytes;
    auto w = Wal::Open((dir / "paxos").string(), o, out);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }

  // A fresh WAL with one segment holding these appends.
  void WriteAppends(const std::vector<std::vector<Wal::Record>>& appends) {
    std::vector<Wal::Record> none;
    auto w = OpenWal(&none, 1 << 20);
    ASSERT_TRUE(w->Rotate({}).ok());
    for (const auto& a : appends) ASSERT_TRUE(w->Append(a).ok());
  }

  fs::path dir;
};

TEST_F(WalTest, RecordsComeBackInOrderAcrossSegmentsAndReopenings) {
  {
    std::vector<Wal::Record> none;
    auto w = OpenWal(&none);
    EXPECT_TRUE(none.empty());
    ASSERT_TRUE(w->Rotate({}).ok());
    for (uint64_t t = 1; t <= 40; t++) {
      if (w->ShouldRotate()) {
        ASSERT_TRUE(w->Rotate({}).ok());
      }
      ASSERT_TRUE(w->Append({Rec(t), Rec(t + 1000, 0)}).ok());
    }
    EXPECT_GT(w->segments(), 4u);
  }
  std::vector<Wal::Record> got;
  auto w = OpenWal(&got);
  ASSERT_EQ(got.size(), 80u);
  for (uint64_t t = 1; t <= 40; t++) {
    EXPECT_EQ(got[2 * (t - 1)].tag, t);
    EXPECT_EQ(got[2 * (t - 1)].type, 7);
    EXPECT_EQ(got[2 * (t - 1)].payload, Rec(t).payload);
    EXPECT_EQ(got[2 * (t - 1) + 1].tag, t + 1000);
    EXPECT_EQ(got[2 * (t - 1) + 1].payload, "");
  }
}

TEST_F(WalTest, TornTailOfTheLastSegmentIsCutOff) {
  ASSERT_NO_FATAL_FAILURE(WriteAppends({{Rec(1), Rec(2)}, {Rec(3)}}));
  const fs::path seg = Segments().back();
  const auto full = fs::file_size(seg);
  fs::resize_file(seg, full - 5);  // the last record lost its end
  {
    std::vector<Wal::Record> got;
    auto w = OpenWal(&got, 1 << 20);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].tag, 2u);
    EXPECT_LT(fs::file_size(seg), full - 5) << "the torn record was cut off the file";
    ASSERT_TRUE(w->Rotate({}).ok());
    ASSERT_TRUE(w->Append({Rec(4)}).ok());
  }
  std::vector<Wal::Record> got;
  auto w = OpenWal(&got, 1 << 20);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].tag, 4u);
}

TEST_F(WalTest, GarbageAfterTheLastRecordIsCutOffButNotInAnOlderSegment) {
  ASSERT_NO_FATAL_FAILURE(WriteAppends({{Rec(1)}}));
  const fs::path first = Segments().back();
  {
    std::ofstream f(first, std::ios::app | std::ios::binary);
    f << std::string(64, '\0');  // zeros, as a preallocating filesystem may leave
  }
  {
    std::vector<Wal::Record> got;
    auto w = OpenWal(&got, 1 << 20);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(w->Rotate({}).ok());
    ASSERT_TRUE(w->Append({Rec(2)}).ok());
  }
  // Now a byte flipped inside the first (no longer last) segment.
  {
    std::fstream f(first, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('#');
  }
  std::vector<Wal::Record> got;
  auto w = Wal::Open((dir / "paxos").string(), {}, &got);
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(absl::IsDataLoss(w.status())) << w.status();
  EXPECT_NE(w.status().message().find(first.filename().string()), std::string::npos) << w.status();
}

TEST_F(WalTest, DamageBeforeTheEndOfTheLastSegmentIsRefusedNotCut) {
  ASSERT_NO_FATAL_FAILURE(WriteAppends({{Rec(1), Rec(2)}, {Rec(3)}}));
  const fs::path seg = Segments().back();
  const auto size = fs::file_size(seg);
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(17 + 50);  // inside the first record's payload
    f.put('#');
  }
  std::vector<Wal::Record> got;
  auto w = Wal::Open((dir / "paxos").string(), {}, &got);
  ASSERT_FALSE(w.ok()) << "acknowledged records 2 and 3 follow the damaged one";
  EXPECT_TRUE(absl::IsDataLoss(w.status())) << w.status();
  EXPECT_EQ(fs::file_size(seg), size) << "nothing was cut";
}

TEST_F(WalTest, DropThroughDeletesOnlyOlderSegmentsWhoseTagsAreAllCovered) {
  std::vector<Wal::Record> none;
  auto w = OpenWal(&none, 1);  // every Append fills a segment
  ASSERT_TRUE(w->Rotate({}).ok());
  ASSERT_TRUE(w->Append({Rec(1), Rec(2)}).ok());
  ASSERT_TRUE(w->Rotate({}).ok());
  ASSERT_TRUE(w->Append({Rec(3), Rec(9)}).ok());
  ASSERT_TRUE(w->Rotate({}).ok());
  ASSERT_TRUE(w->Append({Rec(5)}).ok());  // the active segment
  ASSERT_EQ(w->segments(), 3u);
  ASSERT_TRUE(w->DropThrough(4).ok());
  EXPECT_EQ(w->segments(), 2u) << "tag 9 keeps the second segment";
  ASSERT_TRUE(w->DropThrough(100).ok());
  EXPECT_EQ(w->segments(), 1u) << "the active segment stays";
  EXPECT_EQ(Segments().size(), 1u);
  w.reset();
  std::vector<Wal::Record> got;
  w = OpenWal(&got, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].tag, 5u);
}

// ------------------------------------------------------------ PaxosLogStore

consensus::Entry MakeEntry(consensus::Slot slot, uint64_t round, const std::string& value) {
  consensus::Entry e;
  e.slot = slot;
  e.ballot = {round, 1};
  e.data = std::make_shared<const std::string>(value);
  return e;
}

class PaxosLogStoreTest : public WalTest {
 protected:
  void SetUp() override {
    WalTest::SetUp();
    Reopen();
  }
  void TearDown() override {
    log.reset();
    store.reset();
    WalTest::TearDown();
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
