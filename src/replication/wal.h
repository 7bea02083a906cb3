// Wal: an append-only log of checksummed records in numbered segment files,
// the durable half of the Paxos acceptor (after etcd's WAL). It knows
// nothing of Paxos: a record is a type byte, a 64-bit tag (the Paxos slot,
// or 0) and a payload; PaxosLogStore gives them meaning.
//
// On disk (docs/on-disk-format.md): files NNNNNNNNNNNNNNNN.wal (16 hex
// digits, increasing) in one directory, each a sequence of records
//
//   crc32 (4, LE) | length (4, LE) | type (1) | tag (8, LE) | payload
//
// where crc32 is zlib's CRC-32 of type, tag and payload. An Append's
// records are written together and made durable with the file's Sync
// (fdatasync) before Append returns. Files go through a leveldb::Env, the
// one under the node's LevelDB (storage/env.h), so that the simulator's
// disk model sees the WAL's writes and syncs too.
//
// A crash can leave the last segment with a torn record at its end: Open
// cuts it off (it was never acknowledged) if the bad record runs to the end
// of the file or only zeros follow it. An invalid record anywhere else is
// corruption, and Open fails with DataLoss naming the file and offset.
// (A damaged length field in the last record of the last segment looks like
// a torn write, as in etcd's WAL.)
//
// Not thread-safe: the Replica (through PaxosLogStore) makes every call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace leveldb {
class Env;
class WritableFile;
}  // namespace leveldb

namespace kvgo::replication {

// fsyncs the directory `dir` (after creating, renaming or deleting files in
// it).
Status SyncDirectory(const std::string& dir);

class Wal {
 public:
  struct Record {
    uint8_t type = 0;
    uint64_t tag = 0;
    std::string payload;
  };
  struct Options {
    // A new segment starts once the active one holds this many bytes.
    uint64_t segment_bytes = 16 << 20;
    // Where the files go; null: storage::StorageEnv(). Must outlive the Wal.
    leveldb::Env* env = nullptr;
    // A deliberate bug, to prove the simulator's power cuts catch it:
    // Append does not sync.
    bool testing_skip_sync = false;
  };

  // Opens `dir` (creating it) and appends every record of every segment,
  // in order, to *records. Before the first Append the caller picks where
  // appends go: Continue() (the last segment) or Rotate() (a new one).
  static StatusOr<std::unique_ptr<Wal>> Open(const std::string& dir, Options options, std::vector<Record>* records);
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends `records` to the active segment and fdatasyncs it. After an
  // error the Wal's state on disk is unknown: the caller must stop.
  Status Append(const std::vector<Record>& records);

  // True once the active segment reached Options::segment_bytes.
  bool ShouldRotate() const { return active_bytes_ >= options_.segment_bytes; }

  // Closes the active segment and starts a new one holding `head` (synced,
  // directory entry included). The caller passes the records a reader needs
  // even if every older segment is gone (PaxosLogStore: the promise).
  Status Rotate(const std::vector<Record>& head);

  // Appends go on at the end of the last segment (after Open). Without a
  // segment, the same as Rotate(head).
  Status Continue(const std::vector<Record>& head);

  // Deletes every segment but the active one whose records all have a tag
  // <= `upto`. The records of the active segment stay, whatever their tags.
  Status DropThrough(uint64_t upto);

  // Starts a new segment holding `head` and deletes every older one. A
  // crash in between leaves the older ones in place: the caller's `head`
  // must tell a reader to disregard what came before it.
  Status StartOver(const std::vector<Record>& head);

  // Bytes in all segments, and how many segments there are.
  uint64_t bytes() const;
  size_t segments() const { return segments_.size(); }
  const std::string& directory() const { return dir_; }

 private:
  struct Segment {
    uint64_t seq = 0;
    uint64_t bytes = 0;
    uint64_t max_tag = 0;
  };

  Wal(std::string dir, Options options);
  std::string PathOf(uint64_t seq) const;
  Status OpenSegment(uint64_t seq);  // creates it empty and makes it the active one
  Status SyncDir() const;
  void CloseActive();
  Status Remove(const std::string& path);  // OK if it is gone already

  const std::string dir_;
  const Options options_;
  std::vector<Segment> segments_;  // oldest first; the last one is active
  leveldb::Env* const env_;
  std::unique_ptr<leveldb::WritableFile> active_;  // the last segment's, once appends may go there
  uint64_t active_bytes_ = 0;
  std::string buf_;  // reused encoding buffer
};

}  // namespace kvgo::replication
