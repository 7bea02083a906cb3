// QueryEngine: ranges, paging, views and LogRange over applied data.
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

TEST_F(EngineTest, MetaOffAndDataOffViews) {
  e->Put("mo", "1");
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("moff");
  w.mutable_meta()->set_attrs(kvspec::kAttrMetaOff);
  w.mutable_data()->set_value("x");
  e->Write(w);
  w.mutable_meta()->set_key("doff");
  w.mutable_meta()->set_attrs(kvspec::kAttrDataOff);
  e->Write(w);
  EXPECT_EQ(e->Get("moff", 1, kvspec::kAttrMetaOff).status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("moff", 1, kvspec::kAttrDataOff).status(), kvspec::kStatusNotFound);
  auto d = e->Get("doff", 1, kvspec::kAttrDataOff);
  ASSERT_EQ(d.status(), kvspec::kStatusOK);
  EXPECT_EQ(d.items(0).data().value(), "x");
  EXPECT_EQ(e->Get("doff", 1, kvspec::kAttrMetaOff).status(), kvspec::kStatusNotFound);
  auto meta_only = e->Get("mo", kvspec::kReadModeKey | kvspec::kReadModeMetaOnly);
  ASSERT_EQ(meta_only.status(), kvspec::kStatusOK);
  EXPECT_FALSE(meta_only.items(0).has_data());
}

// docs/wire-api.md 4.2 and 4.3 with the reference tests' examples.
TEST_F(EngineTest, RangeBounds) {
  for (auto k : {"0001", "0002", "0003"}) e->Put(k, "v");
  EXPECT_EQ(Keys(e->Range("0001", "0009", 10)), (std::vector<std::string>{"0002", "0003"}));
  EXPECT_EQ(Keys(e->Range("0003", "0000", 10, true)), (std::vector<std::string>{"0002", "0001"}));
  EXPECT_EQ(Keys(e->Range("", "", 10)), (std::vector<std::string>{"0001", "0002", "0003"}));
  // cutset is inclusive, and so are keys that extend it
  e->Put("00031", "v");
  EXPECT_EQ(Keys(e->Range("0002", "0003", 10)), (std::vector<std::string>{"0003", "00031"}));
  // reverse: empty offset -> NotFound; empty cutset scans to the first key
  EXPECT_EQ(e->Range("", "", 10, true).status(), kvspec::kStatusNotFound);
  EXPECT_EQ(Keys(e->Range("0002", "", 10, true)), (std::vector<std::string>{"0001"}));
  EXPECT_EQ(e->Range("0003", "0009", 10).items_size(), 1);
}

TEST_F(EngineTest, PagingAndNext) {
  for (int i = 0; i < 25; i++) e->Put("k" + std::to_string(100 + i), "v");
  std::vector<std::string> all;
  std::string offset;
  int pages = 0;
  for (;;) {
    auto r = e->Range(offset, "k9", 10);
    pages++;
    if (r.status() == kvspec::kStatusNotFound) break;
    for (const auto& i : r.items()) all.push_back(i.meta().key());
    offset = all.back();
    if (!r.next()) break;
  }
  EXPECT_EQ(all.size(), 25u);
  EXPECT_EQ(pages, 3);
  // Exactly N items left still sets next; the follow-up page is NotFound.
  auto last = e->Range("k114", "k9", 10);
  EXPECT_EQ(last.items_size(), 10);
  EXPECT_TRUE(last.next());
  EXPECT_EQ(e->Range("k124", "k9", 10).status(), kvspec::kStatusNotFound);
}

TEST_F(EngineTest, LimitSizeNeverReturnsZeroItems) {
  e->Put("big1", std::string(5000, 'x'));
  e->Put("big2", std::string(5000, 'y'));
  kv::ObjectReader r;
  r.set_mode(kvspec::kReadModeKeyRange);
  r.set_limit_num(10);
  r.set_limit_size(100);
  auto res = e->Q(r);
  ASSERT_EQ(res.items_size(), 1);
  EXPECT_TRUE(res.next());
}

TEST_F(EngineTest, KeyModeManyKeys) {
  e->Put("a", "1");
  e->Put("c", "3");
  kv::ObjectReader r;
  r.set_mode(kvspec::kReadModeKey);
  for (auto k : {"c", "b", "a"}) r.add_keys(k);
  auto res = e->Q(r);
  EXPECT_EQ(res.status(), kvspec::kStatusOK);
  EXPECT_EQ(Keys(res), (std::vector<std::string>{"c", "a"}));
  kv::ObjectReader none;
  none.set_mode(kvspec::kReadModeKey);
  none.add_keys("x");
  none.add_keys("y");
  EXPECT_EQ(e->Q(none).status(), kvspec::kStatusOK);
  kv::ObjectReader bad;
  bad.set_mode(kvspec::kReadModeRevRange);
  EXPECT_EQ(e->Q(bad).message(), "invalid mode");
  bad.set_table_name("nope");
  EXPECT_EQ(e->Q(bad).message(), "table not found");
}

TEST_F(EngineTest, LogRangeOffsetsAndLimits) {
  for (int i = 0; i < 5; i++) e->Put("k" + std::to_string(i), "v");  // versions 101..105
  auto r = e->Log(102, 2);
  ASSERT_EQ(r.items_size(), 2);
  EXPECT_EQ(r.items(0).meta().version(), 103u);
  EXPECT_TRUE(r.next());
  EXPECT_EQ(e->Log(105).items_size(), 0);
  EXPECT_EQ(e->Log(105).status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Log(105).log_version(), 105u);
  e->Put("late", "v");
  auto after = e->Log(105);
  ASSERT_EQ(after.items_size(), 1);
  EXPECT_EQ(after.items(0).meta().key(), "late");
}

}  // namespace
}  // namespace kvgo::storage
