// The LevelDB key layout of kvgo-server (docs/on-disk-format.md). Every
// record lives under a one-byte space tag; numbers are big-endian so that
// LevelDB's bytewise order is numeric order. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvgo::storage::keys {

// Space tags.
inline constexpr char kObject = 'o';     // o tid key            -> StoredObject
inline constexpr char kLog = 'l';        // l tid version        -> LogRecord
inline constexpr char kTtl = 't';        // t tid expired key    -> ""
inline constexpr char kTombstone = 'x';  // x tid key            -> version (8 bytes)
inline constexpr char kCounter = 'c';    // c tid 'v'            -> version counter
                                         // c tid 'i' namespace  -> incr counter
inline constexpr char kSys = 's';        // s name               -> system records
inline constexpr char kPaxos = 'p';      // p ...                -> the Paxos log's slots (replication/log_store.h);
                                         //                         not replicated, not in snapshots

void PutBig32(std::string* dst, uint32_t v);
void PutBig64(std::string* dst, uint64_t v);
uint32_t GetBig32(std::string_view src);  // REQUIRES: src.size() >= 4
uint64_t GetBig64(std::string_view src);  // REQUIRES: src.size() >= 8

// The prefix "o tid"; object keys are the prefix plus the user key.
std::string ObjectPrefix(uint32_t tid);
std::string Object(uint32_t tid, std::string_view key);
std::string LogPrefix(uint32_t tid);
std::string Log(uint32_t tid, uint64_t version);
std::string TtlPrefix(uint32_t tid);
std::string Ttl(uint32_t tid, uint64_t expired, std::string_view key);
std::string Tombstone(uint32_t tid, std::string_view key);
std::string VersionCounter(uint32_t tid);
std::string IncrCounter(uint32_t tid, std::string_view ns);
std::string TablePrefix();                   // s "table/"
std::string Table(std::string_view name);    // s "table/" name -> TableInfo
std::string AccessKeyPrefix();               // s "ak/"
std::string AccessKey(std::string_view id);  // s "ak/" id -> hauth AccessKey
std::string NextTableId();                   // s "next_table_id" -> 8 bytes
std::string FormatVersion();                 // s "format" -> decimal string
std::string ApplyRulesFloor();               // s "apply_rules" -> 8 bytes
std::string ApplyHead();                     // s "apply_head" -> 8 bytes (cluster mode)
std::string MembershipKey();                 // s "membership" -> peer.pb.MembershipRecord (cluster mode)

// The smallest key greater than every key with this prefix ("" if none).
std::string PrefixEnd(std::string_view prefix);

}  // namespace kvgo::storage::keys
