// Test-only: Engine (a Committer and a QueryEngine over a real LevelDB in a
// temporary directory, with a manual clock) and the EngineTest fixture,
// shared by the storage tests. Not thread-safe unless a test says so.
#pragma once

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

namespace kv = lynkdb::kvspec::v2;
inline constexpr int64_t kT0 = 1700000000000;

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

}  // namespace kvgo::storage
