// Committer: group commit of concurrent writers.
#include "storage/engine_fixture.h"

namespace kvgo::storage {
namespace {

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

// A command whose read of the store fails is refused whole (a BatchCommit
// is atomic), and the commands grouped with it are committed without any
// of its mutations.
TEST_F(EngineTest, AFailedStoreReadRefusesTheWholeCommandAndNothingElse) {
  // The incr counter of namespace "bad" is corrupt: reading it fails.
  leveldb::WriteBatch corrupt;
  corrupt.Put(keys::IncrCounter(kvspec::kMainTableId, "bad"), "not eight bytes");
  ASSERT_TRUE(e->store->Write(&corrupt).ok());

  auto writer = [](const std::string& key, const std::string& incr_ns) {
    kv::ObjectWriter w;
    w.set_table_name("main");
    w.mutable_meta()->set_key(key);
    w.mutable_data()->set_value("v");
    w.mutable_data()->set_check(ValueCheck("v"));
    w.mutable_meta()->set_data_check(w.data().check());
    w.set_incr_namespace(incr_ns);
    if (!incr_ns.empty()) w.mutable_meta()->set_incr_id(1);
    return w;
  };
  auto command = [&](std::vector<kv::ObjectWriter> ws) {
    pb::Command cmd;
    cmd.set_now_ms(kT0);
    for (auto& w : ws) *cmd.mutable_write()->add_writers() = std::move(w);
    return cmd;
  };
  // Straight to the state machine: the error, not a result.
  {
    leveldb::WriteBatch batch;
    BatchSink sink(&batch);
    pb::CommandResult r;
    Status s = e->sm->Apply(command({writer("a", ""), writer("b", "bad")}), &sink, &r);
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    e->sm->Rollback();
  }
  // Through the Committer, with good writes queued around it.
  std::vector<std::promise<StatusOr<pb::CommandResult>>> done(3);
  const std::vector<pb::Command> cmds = {command({writer("x", "")}), command({writer("a", ""), writer("b", "bad")}),
                                         command({writer("y", "")})};
  for (size_t i = 0; i < cmds.size(); i++) {
    e->committer->Submit(cmds[i], [&done, i](StatusOr<pb::CommandResult> r) { done[i].set_value(std::move(r)); });
  }
  std::vector<StatusOr<pb::CommandResult>> results;
  for (auto& d : done) results.push_back(d.get_future().get());
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[0]->results(0).status(), kvspec::kStatusOK);
  EXPECT_TRUE(absl::IsUnavailable(results[1].status())) << results[1].status();
  ASSERT_TRUE(results[2].ok()) << results[2].status();
  EXPECT_EQ(results[2]->results(0).status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("x").status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("y").status(), kvspec::kStatusOK);
  EXPECT_EQ(e->Get("a").status(), kvspec::kStatusNotFound);  // the refused batch left nothing
  EXPECT_EQ(e->Log(0, 100).items_size(), 2);
}

}  // namespace
}  // namespace kvgo::storage
