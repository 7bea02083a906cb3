// SnapshotInstaller: writes a leader's snapshot stream into this node's
// KV store, chunk by chunk (each a synced write that replaces the keys in
// its range), then the applied and compacted slots with the last chunk. A
// marker key (PaxosLogStore::PutInstalling) is present while an install is
// incomplete, so that a node that stops midway wipes its data at startup.
//
// One install at a time, named by a generation: an aborted install's later
// chunks are refused.
//
// Not thread-safe: the Replica serializes the calls.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "storage/store.h"

namespace kvgo::replication {

class SnapshotInstaller {
 public:
  // REQUIRES: store and clock outlive this object.
  // testing_keep_stale_keys plants a bug for the simulator to find: the
  // receiver's keys that the snapshot does not hold survive the install.
  SnapshotInstaller(storage::Store* store, Clock* clock, bool testing_keep_stale_keys = false)
      : store_(store), clock_(clock), testing_keep_stale_keys_(testing_keep_stale_keys) {}

  // Starts an install of a snapshot at `slot` from `from`: returns its
  // generation. FailedPrecondition while another is active.
  StatusOr<uint64_t> Begin(consensus::Slot slot, consensus::NodeId from);
  // Writes one chunk. Returns true once the last chunk is written (the
  // install is then complete and inactive). On an error the install stays
  // active: the caller aborts it.
  StatusOr<bool> Chunk(uint64_t generation, const peer::pb::SnapshotChunk& chunk);
  // Ends the active install; its later chunks are refused. The KV data is
  // then partly replaced: the caller resets it.
  void Abort();

  bool active() const { return active_; }
  // An active install that received nothing for this long is stalled.
  bool StalledFor(std::chrono::steady_clock::duration limit) const {
    return active_ && clock_->SteadyNow() - last_chunk_at_ > limit;
  }
  uint64_t generation() const { return generation_; }
  consensus::Slot slot() const { return slot_; }
  consensus::NodeId from() const { return from_; }
  double seconds() const { return std::chrono::duration<double>(clock_->SteadyNow() - started_).count(); }

 private:
  storage::Store* const store_;
  Clock* const clock_;
  const bool testing_keep_stale_keys_;
  bool active_ = false;
  uint64_t generation_ = 0;
  consensus::Slot slot_ = 0;
  consensus::NodeId from_ = 0;
  std::string last_key_;  // of the chunks written so far
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point last_chunk_at_{};
};

}  // namespace kvgo::replication
