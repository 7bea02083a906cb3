// StateMachine: the one place where a Command becomes a deterministic batch
// of LevelDB mutations ("apply"). It implements the Commit, TableSet,
// AccessKeySet and TTL-purge semantics of docs/wire-api.md over the layout
// of docs/on-disk-format.md.
//
// Determinism: Apply reads only the store (through the group's overlay) and
// the command. It never reads a clock or a random generator: "now" and any
// generated id come in the command. The same command applied to the same
// state yields the same mutations and results, which is what lets a
// replicated log carry commands.
//
// Not thread-safe: one thread (the Committer's) drives it.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "hauth.pb.h"
#include "kvspec.pb.h"
#include "storage.pb.h"
#include "storage/mutation_sink.h"
#include "storage/store.h"

namespace kvgo::storage {

// The newest rules apply knows. What apply makes of a command may depend on
// the rules it is applied under (Command.apply_rules, chosen by its
// proposer), never on the binary that applies it: an entry logged before an
// upgrade, or proposed while an older member was still in the cluster, is
// applied under its own rules by every replica. A change to what apply
// computes bumps this number and keeps the old behaviour for lower rules.
//  1: the rules of 0.1.0 (0, absent, is applied the same).
inline constexpr uint32_t kApplyRules = 1;

class StateMachine {
 public:
  // What a durable group changed, for the Catalog and the Keyring.
  struct Effects {
    std::vector<pb::TableInfo> tables;
    std::vector<hooto::hauth::v1::AccessKey> access_keys;
    std::map<uint32_t, uint64_t> log_versions;  // tid -> latest version
    // The highest apply rules of any command applied so far (every member
    // could apply them once: a leader does not go back below them for a
    // member it has not heard from).
    uint32_t apply_rules_floor = 0;
  };

  // Creates the initial records (format, tables main and sys) on a new store.
  // Returns an error if the store holds an unknown format.
  static StatusOr<std::unique_ptr<StateMachine>> Open(Store* store);

  // The whole applied state that readers need, for publication at startup
  // and after a snapshot install (it also refreshes what this object
  // caches of the store).
  StatusOr<Effects> LoadEffects();

  // Applies `cmd` on top of everything applied since the last Commit or
  // Rollback (visible through the group's overlay): its mutations go to
  // `sink` (a BatchSink for the store's next write; a RecordSink for a
  // cluster leader's precomputation, on an object of its own whose overlay
  // grows until Reset), its results to `*result`: one per writer for a
  // write command, one otherwise; a command refused by the rules is an OK
  // return with a status 4 result.
  // Returns the error of a failed read of the store. `cmd` is then applied
  // in part, to the overlay and the sink alike: the caller must not write
  // the sink, and must Rollback (or Reset) before applying anything else.
  Status Apply(const pb::Command& cmd, MutationSink* sink, pb::CommandResult* result);

  // Applies a precomputed entry (`cmd->precomputed()`, computed by Apply
  // into a RecordSink on the same state): appends its mutations to `batch` and
  // moves their values into the overlay (they are gone from `cmd`), and
  // takes its versions and rules into the group's effects. Reads nothing.
  void ApplyPrecomputed(pb::Command* cmd, leveldb::WriteBatch* batch);
  // Writes in the overlay (a speculating leader bounds it).
  size_t overlay_size() const { return overlay_.size(); }

  // The group's batch is in the store: forget the overlay and return what
  // the group changed.
  Effects Commit();
  // The group's batch was not written: forget the group.
  void Rollback();
  // Forgets the overlay, and takes `floor` as the committed rules floor
  // (a speculating leader's object starts over at the applied state).
  void Reset(uint32_t floor);

  // Effects::apply_rules_floor as committed (LoadEffects loads it).
  uint32_t apply_rules_floor() const { return rules_floor_committed_; }

 private:
  explicit StateMachine(Store* store) : store_(store) {}

  // Reads through the overlay. NotFound if absent or deleted in the group.
  Status Get(const std::string& key, std::string* value) const;
  void Put(MutationSink* sink, const std::string& key, const std::string& value);
  void Delete(MutationSink* sink, const std::string& key);
  StatusOr<uint64_t> GetCounter(const std::string& key) const;
  StatusOr<std::optional<pb::TableInfo>> GetTable(const std::string& name);

  lynkdb::kvspec::v2::ObjectResult ApplyWriter(const lynkdb::kvspec::v2::ObjectWriter& w, uint64_t now_ms,
                                               MutationSink* sink);
  lynkdb::kvspec::v2::ObjectResult ApplyTableSet(const pb::TableSetCommand& c, uint64_t now_ms, MutationSink* sink);
  lynkdb::kvspec::v2::ObjectResult ApplyAccessKeySet(const pb::AccessKeySetCommand& c, uint64_t now_ms,
                                                     MutationSink* sink);
  lynkdb::kvspec::v2::ObjectResult ApplyPurge(const pb::PurgeCommand& c, uint64_t now_ms, MutationSink* sink);
  // Allocates the next version of table `tid` (at least floor + 1).
  StatusOr<uint64_t> NextVersion(uint32_t tid, uint64_t floor, MutationSink* sink);

  // A status 5 result for a failed store read, kept in read_error_.
  lynkdb::kvspec::v2::ObjectResult StorageError(const Status& s);

  Store* store_;
  Status read_error_;  // the first failed read of the applying command
  // Table records as read from the store (every write reads one). Valid
  // while every change of a table record in the store goes through this
  // object: a write of one here forgets them all (ForgetTable), and so do
  // LoadEffects (a snapshot install replaced the store), Reset and
  // Rollback.
  std::unordered_map<std::string, pb::TableInfo> tables_;
  void ForgetTable(const std::string& key);
  // Writes of the current group, visible to its later commands
  // (nullopt = deleted).
  std::unordered_map<std::string, std::optional<std::string>> overlay_;
  Effects effects_;
  uint32_t rules_ = 0;  // the applying command's apply_rules
  // Effects::apply_rules_floor, with this group's commands / as committed.
  uint32_t rules_floor_ = 0;
  uint32_t rules_floor_committed_ = 0;
};

}  // namespace kvgo::storage
