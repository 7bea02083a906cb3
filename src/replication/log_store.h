// PaxosLogStore: the durable state of a node's Paxos acceptor, kept in the
// node's LevelDB under the space tag 'p' (docs/on-disk-format.md), so that
// the acceptor state, the chosen entries and the applied data go to disk in
// one WriteBatch with one fsync:
//
//   p 0x01              -> peer.pb.HardState (the promise)
//   p 0x02 slot         -> peer.pb.Entry (accepted value of a slot)
//   p 0x03              -> compacted slot (8 bytes): no entry <= it is kept
//   p 0x04              -> applied slot (8 bytes), written with the data
//   p 0x05              -> present while a snapshot installs (the KV data
//                          is then incomplete and is wiped at startup)
//
// The encoders append to a caller's batch; Load reads everything back.
// Thread-compatible: the Replicator's driver thread is the only writer.
#pragma once

#include <leveldb/write_batch.h>

#include <string>

#include "common/status.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "storage/store.h"

namespace kvgo::replication {

inline constexpr char kPaxosSpace = 'p';

class PaxosLogStore {
 public:
  explicit PaxosLogStore(storage::Store* store) : store_(store) {}

  // What a restarted node had. If a snapshot install was interrupted, the
  // KV data is wiped first (keeping the promise): the node then restarts
  // empty and is caught up by the leader.
  StatusOr<consensus::Restored> Load();

  static void PutHardState(const consensus::HardState& hs, leveldb::WriteBatch* b);
  static void PutEntry(const consensus::Entry& e, leveldb::WriteBatch* b);
  static void PutApplied(consensus::Slot slot, leveldb::WriteBatch* b);
  static void PutCompacted(consensus::Slot slot, leveldb::WriteBatch* b);
  // Deletes the entries in (from, upto].
  void DeleteEntries(consensus::Slot from, consensus::Slot upto, leveldb::WriteBatch* b) const;
  static void PutInstalling(leveldb::WriteBatch* b);
  static void ClearInstalling(leveldb::WriteBatch* b);

  static std::string EntryKey(consensus::Slot slot);
  static std::string AppliedKey();
  // True for keys of the Paxos log store (never part of a KV snapshot).
  static bool IsLogKey(const std::string& key) { return !key.empty() && key[0] == kPaxosSpace; }

  // Deletes every KV key, every log entry and the applied and compacted
  // slots, keeping only the promise, in one synced write: the node is then
  // as new (its state machine must write its initial records again).
  Status WipeData();

 private:

  storage::Store* store_;
};

}  // namespace kvgo::replication
