// StateMachine::Apply into a RecordSink and ApplyPrecomputed: a leader's precomputed
// entries make the state that applying the commands makes.
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

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
    BatchSink sink(&batch);
    for (size_t i = 0; i < cmds.size(); i++) {
      pb::CommandResult r;
      ASSERT_TRUE(plain->Apply(cmds[i], &sink, &r).ok());
      plain_results.push_back(std::move(r));
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
    RecordSink sink(&pre);
    pb::CommandResult r;
    ASSERT_TRUE(spec->Apply(e, &sink, &r).ok());
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
    BatchSink sink(&batch);
    std::map<uint32_t, uint64_t> versions;
    for (size_t i = 0; i < entries.size(); i++) {
      pb::Command e = entries[i];
      pb::CommandResult r;
      if (e.has_precomputed()) {
        sm->ApplyPrecomputed(&e, &batch);
      } else {
        EXPECT_TRUE(sm->Apply(e, &sink, &r).ok());
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
