// Applier: applies chosen entries to this node's state machine and answers
// the proposals they carry; as leader, precomputes writes on a speculative
// state (docs/replication.md "Precomputed entries") and keeps the apply
// chain that makes precomputed entries safe across leader changes.
//
// Every replica applies the same entries to the same state and gets the
// same result; a failure to read or write the store here stops the process
// (a replica that skipped an entry's effects would differ for good).
//
// Not thread-safe: the Replica's thread makes every call.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"
#include "consensus/paxos.h"
#include "replication/apply_chain.h"
#include "replication/apply_rules.h"
#include "replication/proposal.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kvgo::replication {

class Applier {
 public:
  // Called after each durable group of applied entries (and after a
  // snapshot install, with the whole state).
  using EffectsListener = std::function<void(const storage::StateMachine::Effects&)>;

  // REQUIRES: store, sm and rules outlive the Applier; sm->LoadEffects()
  // ran. Fails if the apply head cannot be read.
  static StatusOr<std::unique_ptr<Applier>> Open(storage::Store* store, storage::StateMachine* sm, ApplyRules* rules,
                                                 EffectsListener listener);

  // Leader: computes `p` on the speculative state (a write becomes its
  // precomputed mutations and results) and chains it after the previous
  // proposal. Leaves it a plain command when the speculative state cannot
  // start (some slot before it is not applied yet) or grew too big.
  void Speculate(const consensus::Node& node, Proposal& p);
  // Drops the speculative state (no longer leading, or a chain cut).
  void EndSpeculation();
  bool speculating() const { return spec_active_; }
  // Called when this leader has nothing in flight: the store is then the
  // speculative state, whose overlay can go.
  void Settle();

  // The outcome of Apply: the answers to give, once the caller published
  // the new applied slot (a read index must cover every answered write).
  struct Applied {
    uint64_t skipped = 0;  // entries whose chain a leader change cut
    std::vector<std::pair<storage::CommandLog::Callback, StatusOr<storage::pb::CommandResult>>> answers;
  };
  // Applies `committed` (in slot order) in one unsynced store write with
  // the applied slot, and takes the proposals of `proposed` they carry out
  // of it, with their answers. Stops the process on a storage failure, or
  // (exit 2) on an entry proposed under newer apply rules than this binary
  // knows.
  Applied Apply(const std::vector<consensus::Entry>& committed, Proposals& proposed);

  // Rereads everything from the store (after a snapshot install or a
  // reset replaced it) and tells the listener.
  Status Reload();

 private:
  Applier(storage::Store* store, storage::StateMachine* sm, std::unique_ptr<storage::StateMachine> spec,
          ApplyRules* rules, EffectsListener listener)
      : store_(store), sm_(sm), spec_(std::move(spec)), rules_(rules), listener_(std::move(listener)) {}
  Status LoadHead();  // chain_.head and membership_slot_ from the store
  // Writes the membership a configuration entry sets (key s membership) to
  // `batch`, if it takes effect (consensus::TakesEffect).
  void PutMembership(const consensus::Entry& e, leveldb::WriteBatch* batch);

  storage::Store* const store_;
  storage::StateMachine* const sm_;
  // The leader's state after everything it proposed, while spec_active_;
  // its last proposal's id is spec_head_.
  std::unique_ptr<storage::StateMachine> spec_;
  ApplyRules* const rules_;
  const EffectsListener listener_;
  ApplyChain chain_;                     // which entry this node applied last
  consensus::Slot membership_slot_ = 0;  // the slot the stored membership is as of
  bool spec_active_ = false;
  uint64_t spec_head_ = 0;
};

}  // namespace kvgo::replication
