// StateMachine: what apply makes of writes, deletes, counters, TTLs and
// tables (through the Committer, on a real LevelDB).
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

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

// An incr id is never handed out past 2^64-1: 0 means "no id", and ids
// would repeat.
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

}  // namespace
}  // namespace kvgo::storage
