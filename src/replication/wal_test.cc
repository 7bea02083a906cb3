// The Paxos WAL (wal.h): records come back in order across segments and
// reopenings, a torn tail is cut off, corruption elsewhere is refused, and
// segments are dropped only when nothing in them is needed.
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

}  // namespace
}  // namespace kvgo::replication
