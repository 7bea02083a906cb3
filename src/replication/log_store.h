// PaxosLogStore: the durable state of a node's Paxos acceptor.
//
// The promise and the accepted entries live in a write-ahead log of their
// own (Wal, in <data_directory>/paxos/), appended and fdatasync'd once per
// driver round: an entry is written once and never compacted, and the KV
// store holds only applied data. Records (docs/on-disk-format.md):
//
//   type 1, tag 0     peer.pb.HardState (the promise; the latest wins)
//   type 2, tag slot  peer.pb.Entry (accepted value of a slot; the latest
//                     record of a slot wins)
//   type 3, tag 0     reset: forget every entry recorded before it
//
// Every segment begins with the promise in force when it was started, so
// that dropping older segments never loses it.
//
// What goes with the applied data, in the node's LevelDB under the space
// tag 'p', written in the same batch as the data it describes:
//
//   p 0x03  -> compacted slot (8 bytes): no entry <= it is kept
//   p 0x04  -> applied slot (8 bytes)
//   p 0x05  -> present while a snapshot installs (the KV data is then
//              incomplete and is wiped at startup)
//   p 0x06  -> storage.pb.NodeIdentity: who uses the directory, single
//              node or cluster member (server/identity.h; both modes)
//
// Not thread-safe: the Replica's thread makes every call.
#pragma once

#include <leveldb/write_batch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "consensus/paxos.h"
#include "peer.pb.h"
#include "replication/ports.h"
#include "replication/wal.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace kvgo::replication {

inline constexpr char kPaxosSpace = storage::keys::kPaxos;

class PaxosLogStore final : public AcceptorLog {
 public:
  // The log of the node whose KV store is `store`, in
  // <store->directory()>/paxos. Load() must be called before anything else.
  static StatusOr<std::unique_ptr<PaxosLogStore>> Open(storage::Store* store, Wal::Options options = {});

  // (Re)reads what the node had, with the membership its KV store records
  // (s "membership"; none before the first membership change). If a
  // snapshot install was interrupted, the KV data is wiped first (keeping
  // the promise): the node then restarts empty and is caught up by the
  // leader.
  StatusOr<consensus::Restored> Load() override;

  // The membership record of `store` (key s "membership"), if any; a
  // corrupt one is an error.
  static StatusOr<std::optional<peer::pb::MembershipRecord>> ReadMembership(storage::Store* store);

  // Appends the promise (if it changed) and the accepted entries to the
  // WAL and fdatasyncs: on return they survive a crash or power loss.
  Status Persist(const std::optional<consensus::HardState>& hard_state,
                 const std::vector<consensus::Entry>& entries) override;

  // Marks the entries up to `upto` as compacted, in a synced LevelDB write
  // that also makes every applied write before it durable, then deletes the
  // WAL segments that hold nothing later. FailedPrecondition if `upto` is
  // beyond the applied slot.
  Status Compact(consensus::Slot upto) override;
  // Deletes the WAL segments holding nothing after `upto`, once the
  // compacted slot `upto` is durable in the KV store (a snapshot install).
  Status DropThrough(consensus::Slot upto) override { return wal_->DropThrough(upto); }

  // Deletes every KV key, every log entry and the applied and compacted
  // slots, keeping only the promise: the node is then as new (its state
  // machine must write its initial records again).
  Status WipeData() override;

  static void PutApplied(consensus::Slot slot, leveldb::WriteBatch* b);
  static void PutCompacted(consensus::Slot slot, leveldb::WriteBatch* b);
  static void PutInstalling(leveldb::WriteBatch* b);
  static void ClearInstalling(leveldb::WriteBatch* b);
  static std::string AppliedKey();
  static std::string IdentityKey();
  // True for keys of the Paxos space (never part of a KV snapshot).
  static bool IsLogKey(std::string_view key) { return !key.empty() && key[0] == kPaxosSpace; }

  // The WAL's size on disk and segment count (metrics, tests); same thread
  // as the other calls.
  uint64_t bytes() const override { return wal_ ? wal_->bytes() : 0; }
  size_t wal_segments() const { return wal_ ? wal_->segments() : 0; }

  // Record types (exposed for tests).
  static constexpr uint8_t kHardStateRecord = 1;
  static constexpr uint8_t kEntryRecord = 2;
  static constexpr uint8_t kResetRecord = 3;

 private:
  PaxosLogStore(storage::Store* store, std::string dir, Wal::Options options)
      : store_(store), dir_(std::move(dir)), options_(options) {}
  std::vector<Wal::Record> Head() const;  // what every segment starts with

  storage::Store* store_;
  const std::string dir_;
  const Wal::Options options_;
  std::unique_ptr<Wal> wal_;
  std::optional<consensus::HardState> hard_state_;  // the latest promise recorded
};

}  // namespace kvgo::replication
