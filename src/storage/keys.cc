#include "storage/keys.h"

namespace kvgo::storage::keys {
namespace {

std::string WithTid(char space, uint32_t tid) {
  std::string k(1, space);
  PutBig32(&k, tid);
  return k;
}

}  // namespace

void PutBig32(std::string* dst, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) dst->push_back(static_cast<char>((v >> shift) & 0xff));
}

void PutBig64(std::string* dst, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) dst->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t GetBig32(std::string_view src) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

uint64_t GetBig64(std::string_view src) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

std::string ObjectPrefix(uint32_t tid) { return WithTid(kObject, tid); }

std::string Object(uint32_t tid, std::string_view key) {
  std::string k = ObjectPrefix(tid);
  k.append(key);
  return k;
}

std::string LogPrefix(uint32_t tid) { return WithTid(kLog, tid); }

std::string Log(uint32_t tid, uint64_t version) {
  std::string k = LogPrefix(tid);
  PutBig64(&k, version);
  return k;
}

std::string TtlPrefix(uint32_t tid) { return WithTid(kTtl, tid); }

std::string Ttl(uint32_t tid, uint64_t expired, std::string_view key) {
  std::string k = TtlPrefix(tid);
  PutBig64(&k, expired);
  k.append(key);
  return k;
}

std::string Tombstone(uint32_t tid, std::string_view key) {
  std::string k = WithTid(kTombstone, tid);
  k.append(key);
  return k;
}

std::string VersionCounter(uint32_t tid) {
  std::string k = WithTid(kCounter, tid);
  k.push_back('v');
  return k;
}

std::string IncrCounter(uint32_t tid, std::string_view ns) {
  std::string k = WithTid(kCounter, tid);
  k.push_back('i');
  k.append(ns);
  return k;
}

std::string TablePrefix() { return std::string(1, kSys) + "table/"; }
std::string Table(std::string_view name) { return TablePrefix() + std::string(name); }
std::string AccessKeyPrefix() { return std::string(1, kSys) + "ak/"; }
std::string AccessKey(std::string_view id) { return AccessKeyPrefix() + std::string(id); }
std::string NextTableId() { return std::string(1, kSys) + "next_table_id"; }
std::string FormatVersion() { return std::string(1, kSys) + "format"; }
std::string ApplyRulesFloor() { return std::string(1, kSys) + "apply_rules"; }
std::string ApplyHead() { return std::string(1, kSys) + "apply_head"; }
std::string MembershipKey() { return std::string(1, kSys) + "membership"; }

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c != 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

}  // namespace kvgo::storage::keys
