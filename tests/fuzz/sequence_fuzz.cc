// libFuzzer target: a sequence of Public API calls (one BatchRequest's
// items, in order) on the real storage engine, as the server runs them:
// every writer checked by ValidateWriter and applied by StateMachine::Apply
// into LevelDB (a fresh directory per input), every reader answered by the
// QueryEngine within a reply budget. Checks that nothing crashes, that
// every status is a kvspec status, that a reply stays within its budget,
// and that a plain put answered OK reads back at once, with its version
// and value.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/kvspec.h"
#include "kvspec.pb.h"
#include "server/validate.h"
#include "storage/catalog.h"
#include "storage/query.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kv = lynkdb::kvspec::v2;
using namespace kvgo;

namespace {

constexpr int64_t kNow = 1700000000000;
constexpr size_t kBudget = 64 << 10;

class Budget final : public storage::ReplyBudget {
 public:
  Status Take(size_t bytes) override {
    if (bytes > left_) return absl::InvalidArgumentError("budget");
    left_ -= bytes;
    return absl::OkStatus();
  }

 private:
  size_t left_ = kBudget;
};

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kv::BatchRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size)) || req.items_size() > 64) return 0;
  static const std::string dir = (std::filesystem::exists("/dev/shm") ? std::string("/dev/shm") : std::string("/tmp")) +
                                 "/kvgo-sequence-fuzz-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  {
    storage::StoreOptions o;
    o.data_directory = dir;
    o.write_buffer_size = 1 << 20;
    auto store = std::move(storage::Store::Open(o).value());
    auto sm = std::move(storage::StateMachine::Open(store.get()).value());
    storage::Catalog catalog;
    auto effects = sm->LoadEffects().value();
    for (const auto& t : effects.tables) catalog.PutTable(t);
    catalog.PutLogVersions(effects.log_versions);
    ManualClock clock(kNow);
    storage::QueryEngine query(store.get(), &catalog, &clock);
    std::set<std::string> odd_keys;  // written with attrs or preconditions: no read-back check

    for (const auto& item : req.items()) {
      if (item.has_writer()) {
        kv::ObjectWriter w = item.writer();
        if (w.table_name().empty()) w.set_table_name(req.table_name());
        kv::ObjectResult err;
        if (!server::ValidateWriter(&w, &err)) {
          Check(err.status() == kvspec::kStatusClientError);
          continue;
        }
        storage::pb::Command cmd;
        cmd.set_now_ms(static_cast<uint64_t>(kNow));
        *cmd.mutable_write()->add_writers() = w;
        leveldb::WriteBatch batch;
        storage::BatchSink sink(&batch);
        storage::pb::CommandResult res;
        Check(sm->Apply(cmd, &sink, &res).ok());
        Check(res.results_size() == 1 && res.results(0).status() <= 6);
        Check(store->Write(&batch).ok());
        const auto e = sm->Commit();
        for (const auto& t : e.tables) catalog.PutTable(t);
        catalog.PutLogVersions(e.log_versions);
        const kv::ObjectMeta& m = w.meta();
        const bool plain = w.mode() == 0 && m.attrs() == 0 && w.data().attrs() == 0 && m.expired() == 0 &&
                           w.prev_version() == 0 && w.prev_data_check() == 0 && w.prev_attrs() == 0 &&
                           w.prev_incr_id() == 0 && w.table_name() == kvspec::kMainTable;
        if (!plain) odd_keys.insert(m.key());
        if (plain && res.results(0).status() == kvspec::kStatusOK && odd_keys.count(m.key()) == 0) {
          kv::ObjectReader r;
          r.set_mode(kvspec::kReadModeKey);
          r.add_keys(m.key());
          const kv::ObjectResult got = query.Query(r);
          Check(got.status() == kvspec::kStatusOK && got.items_size() == 1);
          Check(got.items(0).meta().version() == res.results(0).meta().version());
          Check(got.items(0).data().value() == w.data().value());
        }
      } else if (item.has_reader()) {
        kv::ObjectReader r = item.reader();
        if (r.table_name().empty()) r.set_table_name(req.table_name());
        if (r.keys_size() > 1000) continue;  // the service refuses more ([limits] max_keys_per_request)
        Budget budget;
        const kv::ObjectResult got = query.Query(r, &budget);
        Check(got.status() <= 6);
        Check(got.ByteSizeLong() <= kBudget + 4096);
      }
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
