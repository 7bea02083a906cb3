// Apply (StateMachine through the Committer) and read (QueryEngine) on a
// real LevelDB in a temporary directory, with a manual clock.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "common/checksum.h"
#include "common/kvspec.h"
#include "storage/catalog.h"
#include "storage/committer.h"
#include "storage/env.h"
#include "storage/keys.h"
#include "storage/query.h"
#include "storage/state_machine.h"
#include "storage/store.h"
#include "storage/ttl.h"

namespace kvgo::storage {
namespace {

namespace kv = lynkdb::kvspec::v2;
constexpr int64_t kT0 = 1700000000000;

class Engine {
 public:
  explicit Engine(const std::string& dir) : clock(kT0) {
    StoreOptions o;
    o.data_directory = dir;
    store = std::move(Store::Open(o).value());
    sm = std::move(StateMachine::Open(store.get()).value());
    auto e = sm->LoadEffects().value();
    for (const auto& t : e.tables) catalog.PutTable(t);
    catalog.PutLogVersions(e.log_versions);
    committer = std::make_unique<Committer>(store.get(), sm.get(), &catalog, nullptr);
    query = std::make_unique<QueryEngine>(store.get(), &catalog, &clock);
  }

  kv::ObjectResult Write(kv::ObjectWriter w) {
    if (w.table_name().empty()) w.set_table_name("main");
    if (!(w.mode() & kvspec::kWriteModeDelete) && w.has_data()) {
      w.mutable_data()->set_check(ValueCheck(w.data().value()));
      w.mutable_meta()->set_data_check(w.data().check());
    }
    pb::Command cmd;
    cmd.set_now_ms(clock.NowMs());
    *cmd.mutable_write()->add_writers() = w;
    return committer->Execute(cmd).value().results(0);
  }

  kv::ObjectResult Put(const std::string& key, const std::string& value, uint64_t mode = 0) {
    kv::ObjectWriter w;
    w.set_mode(mode);
    w.mutable_meta()->set_key(key);
    w.mutable_data()->set_value(value);
    return Write(w);
  }

  kv::ObjectResult Del(const std::string& key, uint64_t mode = kvspec::kWriteModeDelete) {
    kv::ObjectWriter w;
    w.set_mode(mode);
    w.mutable_meta()->set_key(key);
    return Write(w);
  }

  kv::ObjectResult Get(const std::string& key, uint64_t mode = kvspec::kReadModeKey, uint64_t attrs = 0) {
    kv::ObjectReader r;
    r.set_mode(mode);
    r.set_attrs(attrs);
    r.add_keys(key);
    return Q(r);
  }

  kv::ObjectResult Range(const std::string& offset, const std::string& cutset, int64_t limit, bool reverse = false) {
    kv::ObjectReader r;
    r.set_mode(kvspec::kReadModeKeyRange | (reverse ? kvspec::kReadModeRevRange : 0));
    r.set_key_offset(offset);
    r.set_key_cutset(cutset);
    r.set_limit_num(limit);
    return Q(r);
  }

  kv::ObjectResult Log(uint64_t offset, int64_t limit = 100) {
    kv::ObjectReader r;
    r.set_mode(kvspec::kReadModeLogRange);
    r.set_log_offset(offset);
    r.set_limit_num(limit);
    return Q(r);
  }

  kv::ObjectResult Q(const kv::ObjectReader& r) { return query->Query(r); }

  ManualClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<StateMachine> sm;
  Catalog catalog;
  std::unique_ptr<Committer> committer;
  std::unique_ptr<QueryEngine> query;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("kvgo-engine-test-" + std::to_string(getpid()) + "-" +
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    e = std::make_unique<Engine>(dir.string());
  }
  void TearDown() override {
    e.reset();
    std::filesystem::remove_all(dir);
  }
  void Reopen() {
    e.reset();
    e = std::make_unique<Engine>(dir.string());
  }
  std::vector<std::string> Keys(const kv::ObjectResult& r) {
    std::vector<std::string> out;
    for (const auto& i : r.items()) out.push_back(i.meta().key());
    return out;
  }
  std::filesystem::path dir;
  std::unique_ptr<Engine> e;
};

TEST_F(EngineTest, VersionsStartAt101AndGrowAcrossRestart) {
  auto r1 = e->Put("k1", "a");
  ASSERT_EQ(r1.status(), kvspec::kStatusOK);
  EXPECT_EQ(r1.meta().version(), 101u);
  EXPECT_EQ(r1.meta().updated(), static_cast<uint64_t>(kT0));
  EXPECT_EQ(e->Put("k2", "b").meta().version(), 102u);
  EXPECT_EQ(e->Put("k1", "c").meta().version(), 103u);
  Reopen();
  EXPECT_EQ(e->Put("k3", "d").meta().version(), 104u);
  auto g = e->Get("k1");
  ASSERT_EQ(g.status(), kvspec::kStatusOK);
  EXPECT_EQ(g.items(0).data().value(), "c");
  EXPECT_EQ(g.items(0).meta().version(), 103u);
  EXPECT_EQ(g.log_version(), 104u);
}

TEST_F(EngineTest, SameValueIsNoOpAndCreateOnExistingReturnsExistingMeta) {
  auto r1 = e->Put("k", "v");
  e->clock.Advance(5);
  auto r2 = e->Put("k", "v");
  EXPECT_EQ(r2.status(), kvspec::kStatusOK);
  EXPECT_EQ(r2.meta().version(), r1.meta().version());
  EXPECT_EQ(r2.meta().created(), static_cast<uint64_t>(kT0));
  auto r3 = e->Put("k", "other", kvspec::kWriteModeCreate);
  EXPECT_EQ(r3.status(), kvspec::kStatusOK);
  EXPECT_EQ(r3.meta().version(), r1.meta().version());
  EXPECT_EQ(e->Get("k").items(0).data().value(), "v");
}

TEST_F(EngineTest, Preconditions) {
  auto r1 = e->Put("k", "v1");
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("k");
  w.mutable_data()->set_value("v2");
  w.set_prev_version(r1.meta().version() + 7);
  EXPECT_EQ(e->Write(w).message(), "invalid prev_version");
  w.set_prev_version(r1.meta().version());
  w.set_prev_data_check(12345);
  EXPECT_EQ(e->Write(w).message(), "invalid prev_data_check");
  w.set_prev_data_check(0);
  w.set_prev_attrs(1ull << 48);
  EXPECT_EQ(e->Write(w).message(), "invalid prev_attrs");
  w.set_prev_attrs(0);
  w.set_prev_incr_id(9);
  EXPECT_EQ(e->Write(w).message(), "invalid prev_incr_id");
  w.set_prev_incr_id(0);
  EXPECT_EQ(e->Write(w).status(), kvspec::kStatusOK);
  // Preconditions are not checked against a missing key.
  w.mutable_meta()->set_key("missing");
  w.set_prev_version(99999);
  EXPECT_EQ(e->Write(w).status(), kvspec::kStatusOK);
}

TEST_F(EngineTest, IncrNamespaces) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("a");
  w.mutable_data()->set_value("1");
  w.set_incr_namespace("user");
  auto r = e->Write(w);
  EXPECT_EQ(r.meta().incr_id(), 101u);
  w.mutable_meta()->set_key("b");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 102u);
  // The id is kept when the key exists.
  w.mutable_meta()->set_key("a");
  w.mutable_data()->set_value("2");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 101u);
  // An explicit id raises the counter.
  w.mutable_meta()->set_key("c");
  w.mutable_meta()->set_incr_id(1000);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 1000u);
  w.mutable_meta()->set_key("d");
  w.mutable_meta()->set_incr_id(0);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 1001u);
  // Rewriting "d" with neither an id nor a namespace keeps its id and
  // touches no counter: the default namespace "meta" applies only when the
  // request itself carries an id (spec 5.1 step 6; apply rules >= 1).
  w.clear_incr_namespace();
  w.mutable_data()->set_value("3");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 1001u);
  w.mutable_meta()->set_key("e");
  w.set_incr_namespace("meta");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 101u);
  // An explicit id without a namespace goes to "meta".
  w.mutable_meta()->set_key("f");
  w.clear_incr_namespace();
  w.mutable_meta()->set_incr_id(5000);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 5000u);
  w.mutable_meta()->set_key("g");
  w.set_incr_namespace("meta");
  w.mutable_meta()->set_incr_id(0);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 5001u);
}

// Apply rules 3 (an entry of rules 2 still wraps, as every replica of that
// version computed it).
TEST_F(EngineTest, IncrIdsNeverWrap) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("top");
  w.mutable_data()->set_value("1");
  w.set_incr_namespace("user");
  w.mutable_meta()->set_incr_id(UINT64_MAX);
  EXPECT_EQ(e->Write(w).meta().incr_id(), UINT64_MAX);
  // The next id would be 0 ("no id"), then 1: refused, nothing written.
  w.mutable_meta()->set_key("next");
  w.mutable_meta()->set_incr_id(0);
  auto r = e->Write(w);
  EXPECT_EQ(r.status(), kvspec::kStatusClientError);
  EXPECT_NE(r.message().find("incr ids of namespace user are used up"), std::string::npos) << r.message();
  EXPECT_EQ(e->Get("next").status(), kvspec::kStatusNotFound);
  // Explicit ids, and other namespaces, still work.
  w.mutable_meta()->set_incr_id(7);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 7u);
  w.mutable_meta()->set_key("other");
  w.mutable_meta()->set_incr_id(0);
  w.set_incr_namespace("orders");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 101u);
}

// An id inherited from the existing object does not raise the default
// namespace's counter; only an id the request carries does (spec 5.1
// step 6).
TEST_F(EngineTest, AnInheritedIncrIdDoesNotRaiseTheDefaultCounter) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("x");
  w.mutable_data()->set_value("1");
  w.set_incr_namespace("user");
  w.mutable_meta()->set_incr_id(1000);
  EXPECT_EQ(e->Write(w).meta().incr_id(), 1000u);
  w.clear_incr_namespace();
  w.mutable_meta()->set_incr_id(0);
  w.mutable_data()->set_value("2");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 1000u);
  w.mutable_meta()->set_key("y");
  w.set_incr_namespace("meta");
  EXPECT_EQ(e->Write(w).meta().incr_id(), 101u);  // the counter's first id
  // The highest rules applied are kept (the Committer applies under the newest).
  EXPECT_EQ(e->sm->LoadEffects().value().apply_rules_floor, kApplyRules);
  EXPECT_EQ(e->sm->apply_rules_floor(), kApplyRules);
}

TEST_F(EngineTest, MergeKeepsAttrsCreatedExtra) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("k");
  w.mutable_meta()->set_attrs(1ull << 48);
  w.mutable_meta()->set_extra("x");
  w.mutable_data()->set_value("1");
  e->Write(w);
  e->clock.Advance(1000);
  w.mutable_meta()->set_attrs(1ull << 49);
  w.mutable_meta()->clear_extra();
  w.mutable_data()->set_value("2");
  e->Write(w);
  auto m = e->Get("k").items(0).meta();
  EXPECT_EQ(m.attrs(), (1ull << 48) | (1ull << 49));
  EXPECT_EQ(m.extra(), "x");
  EXPECT_EQ(m.created(), static_cast<uint64_t>(kT0));
  EXPECT_EQ(m.updated(), static_cast<uint64_t>(kT0 + 1000));
}

TEST_F(EngineTest, UpdatedNeverGoesBackwards) {
  e->Put("k", "1");
  e->clock.SetNowMs(kT0 - 5000);  // the wall clock jumps back
  auto r = e->Put("k", "2");
  EXPECT_EQ(r.status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("k").items(0).data().value(), "2");
  EXPECT_EQ(r.meta().updated(), static_cast<uint64_t>(kT0));
}

TEST_F(EngineTest, DeleteWritesTombstoneToLog) {
  e->Put("a", "1");
  auto p = e->Put("b", "2");
  EXPECT_EQ(e->Del("missing").has_meta(), false);
  auto d = e->Del("a");
  EXPECT_EQ(d.status(), kvspec::kStatusOK);
  EXPECT_EQ(d.meta().version(), 103u);
  EXPECT_EQ(e->Get("a").status(), kvspec::kStatusNotFound);
  auto log = e->Log(0);
  ASSERT_EQ(log.items_size(), 2);  // b@102 and the tombstone of a@103
  EXPECT_EQ(log.items(0).meta().key(), "b");
  EXPECT_EQ(log.items(1).meta().key(), "a");
  EXPECT_TRUE(log.items(1).meta().attrs() & kvspec::kAttrDelete);
  EXPECT_FALSE(log.items(1).has_data());
  // Re-creating the key removes its tombstone from the log.
  e->Put("a", "3");
  log = e->Log(0);
  ASSERT_EQ(log.items_size(), 2);
  EXPECT_EQ(log.items(1).meta().key(), "a");
  EXPECT_FALSE(log.items(1).meta().attrs() & kvspec::kAttrDelete);
  EXPECT_EQ(log.items(1).meta().version(), 104u);
  (void)p;
}

// Apply looks up a key's delete tombstone (its `x` entry) only when the key
// has no object, because a tombstone never coexists with an object. This
// drives a random mix of puts, TTL puts, deletes (plain, data-only, LogOff),
// purges, a delete and a put of one key in one command, and clock steps over
// a few keys. After every step it checks that invariant and the log it
// implies: each `x` entry points at a tombstone log record of its key, and
// each key appears at most once in the log.
TEST_F(EngineTest, TombstoneExistsOnlyWhileTheKeyHasNoObject) {
  const uint32_t tid = kvspec::kMainTableId;
  const std::vector<std::string> names = {"k0", "k1", "k2", "k3"};
  std::mt19937 rng(7);
  int tombstones_seen = 0;
  for (int step = 0; step < 600; step++) {
    const std::string& key = names[rng() % names.size()];
    switch (rng() % 10) {
      case 0:
      case 1:
        e->Put(key, "v" + std::to_string(step));
        break;
      case 2: {  // expires within a few steps, so later puts meet it expired
        kv::ObjectWriter w;
        w.mutable_meta()->set_key(key);
        w.mutable_meta()->set_expired(e->clock.NowMs() + 1 + rng() % 3);
        w.mutable_data()->set_value("t" + std::to_string(step));
        e->Write(w);
        break;
      }
      case 3:
      case 4:
        e->Del(key);
        break;
      case 5:
        e->Del(key, kvspec::kWriteModeDelete | kvspec::kWriteModeDeleteDataOnly);
        break;
      case 6:
        e->Del(key, kvspec::kWriteModeDelete | kvspec::kWriteModeLogOff);
        break;
      case 7: {
        pb::Command purge;
        purge.set_now_ms(e->clock.NowMs());
        *purge.mutable_purge() = CollectExpired(*e->store, e->catalog.Tables(), e->clock.NowMs(), 100);
        if (purge.purge().targets_size() > 0) {
          ASSERT_TRUE(e->committer->Execute(purge).ok());
        }
        break;
      }
      case 8:
      case 9: {  // two writers on the key in one command: delete and put, in either order
        kv::ObjectWriter del;
        del.set_table_name("main");
        del.set_mode(kvspec::kWriteModeDelete);
        del.mutable_meta()->set_key(key);
        kv::ObjectWriter put;
        put.set_table_name("main");
        put.mutable_meta()->set_key(key);
        put.mutable_data()->set_value("b" + std::to_string(step));
        put.mutable_data()->set_check(ValueCheck(put.data().value()));
        put.mutable_meta()->set_data_check(put.data().check());
        pb::Command cmd;
        cmd.set_now_ms(e->clock.NowMs());
        const bool del_first = rng() % 2 == 0;
        *cmd.mutable_write()->add_writers() = del_first ? del : put;
        *cmd.mutable_write()->add_writers() = del_first ? put : del;
        ASSERT_TRUE(e->committer->Execute(cmd).ok());
        break;
      }
    }
    e->clock.Advance(1);

    std::map<std::string, int> in_log;
    auto it = e->store->NewIterator();
    const std::string lp = keys::LogPrefix(tid);
    for (it->Seek(lp); it->Valid() && it->key().starts_with(lp); it->Next()) {
      pb::LogRecord rec;
      ASSERT_TRUE(rec.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())));
      in_log[rec.key()]++;
    }
    for (const auto& [k, n] : in_log)
      EXPECT_EQ(n, 1) << "key " << k << " appears " << n << " times in the log at step " << step;
    for (const std::string& k : names) {
      std::string obj, tomb;
      const bool has_obj = e->store->Get(keys::Object(tid, k), &obj).ok();
      const bool has_tomb = e->store->Get(keys::Tombstone(tid, k), &tomb).ok();
      ASSERT_FALSE(has_obj && has_tomb) << "key " << k << " has an object and a tombstone at step " << step;
      if (!has_tomb) continue;
      tombstones_seen++;
      ASSERT_EQ(tomb.size(), 8u);
      std::string raw;
      ASSERT_TRUE(e->store->Get(keys::Log(tid, keys::GetBig64(tomb)), &raw).ok()) << k << " at step " << step;
      pb::LogRecord rec;
      ASSERT_TRUE(rec.ParseFromString(raw));
      EXPECT_EQ(rec.key(), k);
      EXPECT_TRUE(rec.tombstone().attrs() & kvspec::kAttrDelete) << k << " at step " << step;
    }
  }
  EXPECT_GT(tombstones_seen, 100);  // the mix does reach tombstones
}

TEST_F(EngineTest, DeleteDataOnlyKeepsMeta) {
  auto p = e->Put("k", "v");
  auto d = e->Del("k", kvspec::kWriteModeDelete | kvspec::kWriteModeDeleteDataOnly);
  EXPECT_EQ(d.meta().version(), p.meta().version() + 1);
  EXPECT_EQ(e->Get("k").status(), kvspec::kStatusNotFound);
  auto m = e->Get("k", kvspec::kReadModeKey | kvspec::kReadModeMetaOnly);
  ASSERT_EQ(m.status(), kvspec::kStatusOK);
  EXPECT_EQ(m.items(0).meta().version(), p.meta().version());
  EXPECT_FALSE(m.items(0).has_data());
  EXPECT_EQ(e->Log(0).items_size(), 0);  // LogRange skips it
}

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

TEST_F(EngineTest, ExpiredIsInvisibleAndAbsentForCommit) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("t");
  w.mutable_meta()->set_expired(kT0 + 1000);
  w.mutable_data()->set_value("x");
  e->Write(w);
  EXPECT_EQ(e->Get("t").status(), kvspec::kStatusOK);
  e->clock.Advance(1001);
  EXPECT_EQ(e->Get("t").status(), kvspec::kStatusNotFound);
  EXPECT_EQ(e->Range("", "", 10).status(), kvspec::kStatusNotFound);
  // Create on an expired key creates it.
  auto c = e->Put("t", "new", kvspec::kWriteModeCreate);
  EXPECT_EQ(c.status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("t").items(0).data().value(), "new");
}

TEST_F(EngineTest, PurgeRemovesOnlyExpired) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key("t");
  w.mutable_meta()->set_expired(kT0 + 1000);
  w.mutable_data()->set_value("x");
  e->Write(w);
  pb::Command purge;
  purge.set_now_ms(kT0 + 500);
  auto* t = purge.mutable_purge()->add_targets();
  t->set_table("main");
  t->set_key("t");
  t->set_expired(kT0 + 1000);
  ASSERT_TRUE(e->committer->Execute(purge).ok());
  std::string raw;
  EXPECT_TRUE(e->store->Get(std::string("o\0\0\0\x0at", 6), &raw).ok());  // not yet expired
  purge.set_now_ms(kT0 + 1001);
  ASSERT_TRUE(e->committer->Execute(purge).ok());
  EXPECT_TRUE(absl::IsNotFound(e->store->Get(std::string("o\0\0\0\x0at", 6), &raw)));
  EXPECT_EQ(e->Log(0).items_size(), 0);
}

TEST_F(EngineTest, CollectExpiredFeedsPurge) {
  for (int i = 0; i < 5; i++) {
    kv::ObjectWriter w;
    w.mutable_meta()->set_key("e" + std::to_string(i));
    w.mutable_meta()->set_expired(kT0 + 100 * (i + 1));  // 100..500 ms from now
    w.mutable_data()->set_value("x");
    e->Write(w);
  }
  e->Put("forever", "x");
  auto tables = e->catalog.Tables();
  EXPECT_EQ(CollectExpired(*e->store, tables, kT0 + 50, 100).targets_size(), 0);
  auto some = CollectExpired(*e->store, tables, kT0 + 350, 100);
  ASSERT_EQ(some.targets_size(), 3);
  EXPECT_EQ(some.targets(0).key(), "e0");
  EXPECT_EQ(CollectExpired(*e->store, tables, kT0 + 10000, 2).targets_size(), 2);  // capped
  pb::Command cmd;
  cmd.set_now_ms(kT0 + 10000);
  *cmd.mutable_purge() = CollectExpired(*e->store, tables, kT0 + 10000, 100);
  ASSERT_EQ(cmd.purge().targets_size(), 5);
  ASSERT_TRUE(e->committer->Execute(cmd).ok());
  EXPECT_EQ(CollectExpired(*e->store, tables, kT0 + 10000, 100).targets_size(), 0);
  auto log = e->Log(0);
  ASSERT_EQ(log.items_size(), 1);  // only "forever" is left in the log
  EXPECT_EQ(log.items(0).meta().key(), "forever");
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

TEST_F(EngineTest, TablesAndUnknownTable) {
  pb::Command c;
  c.set_now_ms(kT0);
  c.mutable_table_set()->set_name("t1");
  auto r = e->committer->Execute(c).value().results(0);
  EXPECT_EQ(r.meta().incr_id(), 101u);
  c.mutable_table_set()->set_name("t2");
  EXPECT_EQ(e->committer->Execute(c).value().results(0).meta().incr_id(), 102u);
  c.mutable_table_set()->set_name("t1");
  c.mutable_table_set()->set_desc("again");
  EXPECT_EQ(e->committer->Execute(c).value().results(0).meta().incr_id(), 101u);
  kv::ObjectWriter w;
  w.set_table_name("t1");
  w.mutable_meta()->set_key("k");
  w.mutable_data()->set_value("v");
  EXPECT_EQ(e->Write(w).meta().version(), 101u);  // versions are per table
  w.set_table_name("nope");
  auto nf = e->Write(w);
  EXPECT_EQ(nf.status(), kvspec::kStatusServerError);
  EXPECT_EQ(nf.message(), "table not found");
  Reopen();
  EXPECT_TRUE(e->catalog.FindTable("t2").has_value());
  EXPECT_EQ(e->catalog.FindTable("t1")->desc(), "again");
}

TEST_F(EngineTest, ConcurrentWritersShareGroups) {
  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        ASSERT_EQ(e->Put("t" + std::to_string(t) + "-" + std::to_string(i), "v").status(), kvspec::kStatusOK);
      }
    });
  }
  for (auto& t : ts) t.join();
  auto s = e->committer->stats();
  EXPECT_EQ(s.commands, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(s.groups, s.commands);  // some fsyncs were shared
  // Every version is unique: the log holds exactly one entry per key.
  EXPECT_EQ(e->Log(0, 100000).items_size(), kThreads * kPerThread);
}

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

// A cluster leader precomputes writes on its speculative state (one
// StateMachine whose overlay spans many entries) and every replica writes
// the mutations instead of computing them: the replicas must end with the
// store and answers that applying the commands gives. Groups of different
// sizes on each side, as each node's Readies differ.
TEST(PrecomputeTest, PrecomputedEntriesMakeTheSameStateAsApplyingTheCommands) {
  const std::string base = ::testing::TempDir() + "/kvgo-precompute-test-" + std::to_string(getpid());
  std::filesystem::remove_all(base);
  auto open = [&](const std::string& name) {
    StoreOptions o;
    o.data_directory = base + "/" + name;
    return Store::Open(o).value();
  };
  auto plain_store = open("plain"), leader_store = open("leader"), replica_store = open("replica");
  auto plain = StateMachine::Open(plain_store.get()).value();
  auto leader = StateMachine::Open(leader_store.get()).value();
  auto spec = StateMachine::Open(leader_store.get()).value();
  auto replica = StateMachine::Open(replica_store.get()).value();
  spec->Reset(leader->apply_rules_floor());

  // Commands: puts, overwrites, creates, failed preconditions, deletes,
  // data-only deletes, incr ids, TTLs (one already expired), LogOff, a
  // table created in the middle and written to, a purge.
  std::vector<pb::Command> cmds;
  uint64_t now = kT0;
  auto add = [&](std::function<void(pb::Command*)> fill) {
    pb::Command c;
    c.set_now_ms(now += 7);
    c.set_apply_rules(kApplyRules);
    c.set_proposal_id(cmds.size() + 1);
    fill(&c);
    cmds.push_back(std::move(c));
  };
  auto writer = [](pb::Command* c, const std::string& table, const std::string& key, const std::string& value,
                   uint64_t mode = 0) {
    kv::ObjectWriter* w = c->mutable_write()->add_writers();
    w->set_table_name(table);
    w->set_mode(mode);
    w->mutable_meta()->set_key(key);
    if (!value.empty()) {
      w->mutable_data()->set_value(value);
      w->mutable_data()->set_check(ValueCheck(value));
      w->mutable_meta()->set_data_check(w->data().check());
    }
    return w;
  };
  for (int i = 0; i < 40; i++) {
    const std::string k = "k" + std::to_string(i % 13);
    switch (i % 8) {
      case 0:
        add([&](pb::Command* c) { writer(c, "main", k, "v" + std::to_string(i)); });
        break;
      case 1:
        add([&](pb::Command* c) {
          writer(c, "main", k, "a" + std::to_string(i));
          writer(c, "main", k + "x", "b" + std::to_string(i), kvspec::kWriteModeCreate);
        });
        break;
      case 2:
        add([&](pb::Command* c) { writer(c, "main", k, "", kvspec::kWriteModeDelete); });
        break;
      case 3:
        add([&](pb::Command* c) { writer(c, "main", k, "w", 0)->set_prev_version(5); });
        break;
      case 4:
        add([&](pb::Command* c) { writer(c, "main", k, "i" + std::to_string(i))->set_incr_namespace("ns"); });
        break;
      case 5:
        add([&](pb::Command* c) {
          writer(c, "main", k, "t")->mutable_meta()->set_expired(i % 2 == 0 ? now - 1 : now + 100000);
        });
        break;
      case 6:
        add([&](pb::Command* c) {
          writer(c, "main", k, "", kvspec::kWriteModeDelete | kvspec::kWriteModeDeleteDataOnly);
        });
        break;
      case 7:
        add([&](pb::Command* c) { writer(c, "main", k, "l", kvspec::kWriteModeLogOff); });
        break;
    }
    if (i == 20) {
      add([&](pb::Command* c) { c->mutable_table_set()->set_name("t2"); });
      add([&](pb::Command* c) { writer(c, "t2", "x", "in t2"); });
    }
  }
  add([&](pb::Command* c) {
    pb::PurgeTarget* t = c->mutable_purge()->add_targets();
    t->set_table("main");
    t->set_key("k5");
    t->set_expired(1);
  });

  // The plain path: every command applied, in groups of 3.
  std::vector<pb::CommandResult> plain_results;
  std::vector<std::map<uint32_t, uint64_t>> plain_versions;
  {
    leveldb::WriteBatch batch;
    for (size_t i = 0; i < cmds.size(); i++) {
      plain_results.push_back(plain->Apply(cmds[i], &batch));
      if (i % 3 == 2 || i + 1 == cmds.size()) {
        ASSERT_TRUE(plain_store->Write(&batch).ok());
        batch.Clear();
        plain_versions.push_back(plain->Commit().log_versions);
      }
    }
  }
  // The leader precomputes all of them before any is applied.
  std::vector<pb::Command> entries;
  for (size_t i = 0; i < cmds.size(); i++) {
    pb::Command e = cmds[i];
    pb::Precomputed pre;
    pb::CommandResult r = spec->Precompute(e, &pre);
    EXPECT_EQ(r.SerializeAsString(), plain_results[i].SerializeAsString()) << "command " << i;
    if (e.has_write()) {
      e.clear_write();
      *e.mutable_precomputed() = std::move(pre);
    }
    entries.push_back(std::move(e));
  }
  // The leader and a replica apply the entries in groups of their own.
  auto apply = [&](StateMachine* sm, Store* store, size_t group) {
    leveldb::WriteBatch batch;
    std::map<uint32_t, uint64_t> versions;
    for (size_t i = 0; i < entries.size(); i++) {
      pb::Command e = entries[i];
      if (e.has_precomputed()) {
        sm->ApplyPrecomputed(&e, &batch);
      } else {
        sm->Apply(e, &batch);
      }
      if (i % group == group - 1 || i + 1 == entries.size()) {
        EXPECT_TRUE(store->Write(&batch).ok());
        batch.Clear();
        for (const auto& [tid, v] : sm->Commit().log_versions) versions[tid] = v;
      }
    }
    return versions;
  };
  const auto leader_versions = apply(leader.get(), leader_store.get(), 5);
  const auto replica_versions = apply(replica.get(), replica_store.get(), 2);
  std::map<uint32_t, uint64_t> expected_versions;
  for (const auto& g : plain_versions) {
    for (const auto& [tid, v] : g) expected_versions[tid] = v;
  }
  EXPECT_EQ(leader_versions, expected_versions);
  EXPECT_EQ(replica_versions, expected_versions);
  EXPECT_GE(expected_versions.size(), 2u);  // main and t2 at least

  auto dump = [](Store* store) {
    std::map<std::string, std::string> out;
    auto it = store->NewIterator();
    for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
    return out;
  };
  const auto want = dump(plain_store.get());
  EXPECT_GT(want.size(), 30u);
  EXPECT_EQ(dump(leader_store.get()), want);
  EXPECT_EQ(dump(replica_store.get()), want);
  EXPECT_EQ(replica->apply_rules_floor(), kApplyRules);
  plain_store.reset();
  leader_store.reset();
  replica_store.reset();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace kvgo::storage
