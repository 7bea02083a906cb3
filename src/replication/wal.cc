#include "replication/wal.h"

#include <fcntl.h>
#include <leveldb/env.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/failpoint.h"
#include "storage/env.h"

namespace kvgo::replication {

namespace {

constexpr size_t kHeader = 4 + 4 + 1 + 8;
// A record longer than this is corruption (messages are at most 12 MiB).
constexpr uint32_t kMaxPayload = 64u << 20;

void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; i++) s->push_back(static_cast<char>(v >> (8 * i)));
}
void Put64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; i++) s->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// CRC-32 of type, tag and payload: the bytes after the crc and length.
uint32_t Crc(const char* type_tag, const char* payload, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, reinterpret_cast<const Bytef*>(type_tag), 9);
  if (n > 0) c = crc32_z(c, reinterpret_cast<const Bytef*>(payload), n);
  return static_cast<uint32_t>(c);
}

Status Errno(const std::string& what, const std::string& path) {
  const int e = errno;
  return absl::UnavailableError(what + " " + path + ": " + std::strerror(e));
}

Status Io(const leveldb::Status& s, const std::string& what, const std::string& path) {
  if (s.ok()) return absl::OkStatus();
  return absl::UnavailableError(what + " " + path + ": " + s.ToString());
}

bool ParseName(const std::string& name, uint64_t* seq) {
  if (name.size() != 16 + 4 || name.compare(16, 4, ".wal") != 0) return false;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    const char c = name[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  KVGO_FAILPOINT("disk.fsync");
  const int rc = ::fsync(fd);
  Status s = rc == 0 ? absl::OkStatus() : Errno("cannot fsync", path);
  ::close(fd);
  return s;
}

}  // namespace

Status SyncDirectory(const std::string& dir) { return SyncPath(dir, O_RDONLY | O_DIRECTORY); }

std::string Wal::PathOf(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.wal", static_cast<unsigned long long>(seq));
  return dir_ + "/" + name;
}

Wal::Wal(std::string dir, Options options)
    : dir_(std::move(dir)), options_(options), env_(options.env != nullptr ? options.env : storage::StorageEnv()) {}

Status Wal::SyncDir() const { return SyncDirectory(dir_); }

StatusOr<std::unique_ptr<Wal>> Wal::Open(const std::string& dir, Options options, std::vector<Record>* records) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError("cannot create " + dir + ": " + ec.message());
  std::unique_ptr<Wal> w(new Wal(dir, options));
  if (created) {
    // The new directory's entry must be durable before the first fsync'd
    // record in it means anything.
    if (Status s = w->SyncDir(); !s.ok()) return s;
    const std::string parent = std::filesystem::path(dir).parent_path().string();
    if (Status s = SyncDirectory(parent.empty() ? "." : parent); !s.ok()) return s;
  }

  std::vector<std::string> names;
  if (Status s = Io(w->env_->GetChildren(dir, &names), "cannot list", dir); !s.ok()) return s;
  std::vector<uint64_t> seqs;
  for (const auto& name : names) {
    uint64_t seq;
    if (ParseName(name, &seq)) seqs.push_back(seq);
  }
  std::sort(seqs.begin(), seqs.end());

  std::string data;
  for (size_t i = 0; i < seqs.size(); i++) {
    const bool last = i + 1 == seqs.size();
    const std::string path = w->PathOf(seqs[i]);
    if (Status s = Io(leveldb::ReadFileToString(w->env_, path, &data), "cannot read", path); !s.ok()) return s;
    Segment seg{seqs[i], 0, 0};
    size_t off = 0;
    std::string bad;
    bool reaches_end = false;  // the bad record runs to (or past) the end of the file
    while (off < data.size()) {
      if (data.size() - off < kHeader) {
        bad = "a record header is cut short";
        reaches_end = true;
        break;
      }
      const char* h = data.data() + off;
      const uint32_t len = Get32(h + 4);
      const uint64_t end = off + kHeader + uint64_t{len};
      if (len > kMaxPayload || end > data.size()) {
        bad = "a record is cut short or has a bad length";
        reaches_end = true;
        break;
      }
      if (Crc(h + 8, h + kHeader, len) != Get32(h)) {
        bad = "a record's checksum does not match";
        reaches_end = end == data.size();
        break;
      }
      Record r;
      r.type = static_cast<uint8_t>(h[8]);
      r.tag = Get64(h + 9);
      r.payload.assign(h + kHeader, len);
      seg.max_tag = std::max(seg.max_tag, r.tag);
      records->push_back(std::move(r));
      off += kHeader + len;
    }
    if (!bad.empty()) {
      // A crash during the last Append leaves its records cut short, or
      // the file extended with zeros (or stale bytes) where they were to
      // go. A bad record followed by more data is damage to acknowledged
      // records: refuse, rather than drop them.
      const bool zeros =
          std::all_of(data.begin() + static_cast<std::ptrdiff_t>(off), data.end(), [](char c) { return c == 0; });
      if (!last || !(reaches_end || zeros)) {
        return absl::DataLossError("corrupt Paxos WAL segment " + path + " at offset " + std::to_string(off) + ": " +
                                   bad +
                                   ". Nothing was changed. Move this node's data directory away and restart it "
                                   "empty: the cluster sends it a snapshot");
      }
      // The tail of the last segment: a write a crash cut short, never
      // acknowledged (Append returns only after fdatasync).
      spdlog::warn("Paxos WAL: cutting {} bytes off the end of {} ({}): a write interrupted by a crash",
                   data.size() - off, path, bad);
      // truncate(2), not a rewrite: a node that crashed on a full disk must
      // be able to restart without room for a copy. (The simulator's
      // PowerLossEnv sees the shorter file when it is opened again.)
      if (::truncate(path.c_str(), static_cast<off_t>(off)) != 0) return Errno("cannot truncate", path);
      if (Status s = SyncPath(path, O_RDONLY); !s.ok()) return s;
    }
    seg.bytes = off;
    if (last && off == 0) {
      // An empty last segment (a crash right after it was created) holds
      // nothing: Rotate starts the next one.
      if (Status s = Io(w->env_->RemoveFile(path), "cannot delete", path); !s.ok()) return s;
      continue;
    }
    w->segments_.push_back(seg);
  }
  return w;
}

Wal::~Wal() { CloseActive(); }

void Wal::CloseActive() {
  if (active_ != nullptr) active_->Close();
  active_.reset();
}

Status Wal::Remove(const std::string& path) {
  leveldb::Status s = env_->RemoveFile(path);
  if (!s.ok() && env_->FileExists(path)) return Io(s, "cannot delete", path);
  return absl::OkStatus();
}

uint64_t Wal::bytes() const {
  uint64_t total = 0;
  for (const auto& s : segments_) total += s.bytes;
  return total;
}

Status Wal::OpenSegment(uint64_t seq) {
  const std::string path = PathOf(seq);
  leveldb::WritableFile* f = nullptr;
  if (Status s = Io(env_->NewWritableFile(path, &f), "cannot create", path); !s.ok()) return s;
  CloseActive();
  active_.reset(f);
  active_bytes_ = 0;
  segments_.push_back(Segment{seq, 0, 0});
  return absl::OkStatus();
}

Status Wal::Append(const std::vector<Record>& records) {
  if (active_ == nullptr) return absl::FailedPreconditionError("Paxos WAL: no active segment (Rotate first)");
  if (records.empty()) return absl::OkStatus();
  buf_.clear();
  Segment& seg = segments_.back();
  size_t at = 0;  // where the last record starts
  for (const auto& r : records) {
    at = buf_.size();
    Put32(&buf_, 0);  // crc, below
    Put32(&buf_, static_cast<uint32_t>(r.payload.size()));
    buf_.push_back(static_cast<char>(r.type));
    Put64(&buf_, r.tag);
    buf_.append(r.payload);
    const uint32_t crc = Crc(buf_.data() + at + 8, buf_.data() + at + kHeader, r.payload.size());
    for (int i = 0; i < 4; i++) buf_[at + i] = static_cast<char>(crc >> (8 * i));
    seg.max_tag = std::max(seg.max_tag, r.tag);
  }
  const std::string path = PathOf(seg.seq);
  auto write = [&](size_t from, size_t to) {
    return Io(active_->Append(leveldb::Slice(buf_.data() + from, to - from)), "cannot write", path);
  };
#ifdef KVGO_FAILPOINTS
  // Two writes, the first one flushed to the file, so that a crash between
  // them leaves a torn record: the split falls inside the last record (at
  // least a header long).
  const size_t half = at + (buf_.size() - at) / 2;
  if (Status s = write(0, half); !s.ok()) return s;
  if (Status s = Io(active_->Flush(), "cannot write", path); !s.ok()) return s;
  KVGO_FAILPOINT("wal.append.torn");
  if (Status s = write(half, buf_.size()); !s.ok()) return s;
#else
  if (Status s = write(0, buf_.size()); !s.ok()) return s;
#endif
  if (!options_.testing_skip_sync) {
    if (Status s = Io(active_->Sync(), "cannot fdatasync", path); !s.ok()) return s;
  }
  seg.bytes += buf_.size();
  active_bytes_ += buf_.size();
  if (buf_.capacity() > (4u << 20)) std::string().swap(buf_);  // do not keep a huge buffer
  return absl::OkStatus();
}

Status Wal::Rotate(const std::vector<Record>& head) {
  const uint64_t seq = segments_.empty() ? 1 : segments_.back().seq + 1;
  if (Status s = OpenSegment(seq); !s.ok()) return s;
  if (Status s = SyncDir(); !s.ok()) return s;
  return Append(head);
}

Status Wal::Continue(const std::vector<Record>& head) {
  if (segments_.empty()) return Rotate(head);
  const Segment& last = segments_.back();
  const std::string path = PathOf(last.seq);
  leveldb::WritableFile* f = nullptr;
  if (Status s = Io(env_->NewAppendableFile(path, &f), "cannot open", path); !s.ok()) return s;
  CloseActive();
  active_.reset(f);
  active_bytes_ = last.bytes;
  return absl::OkStatus();
}

Status Wal::DropThrough(uint64_t upto) {
  while (segments_.size() > 1 && segments_.front().max_tag <= upto) {
    if (Status s = Remove(PathOf(segments_.front().seq)); !s.ok()) return s;
    segments_.erase(segments_.begin());
  }
  return absl::OkStatus();
}

Status Wal::StartOver(const std::vector<Record>& head) {
  if (Status s = Rotate(head); !s.ok()) return s;
  while (segments_.size() > 1) {
    if (Status s = Remove(PathOf(segments_.front().seq)); !s.ok()) return s;
    segments_.erase(segments_.begin());
  }
  return absl::OkStatus();
}

}  // namespace kvgo::replication
