#include "storage/store.h"

#include <leveldb/env.h>
#include <leveldb/table.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "storage/env.h"

namespace kvgo::storage {

namespace {
Status FromLevelDB(const leveldb::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError(s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(s.ToString());
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(s.ToString());
  return absl::UnavailableError(s.ToString());
}
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What to tell an operator about a damaged data file.
std::string DamageAdvice(const std::string& file) {
  return "; the damaged file is " + file +
         ". Nothing was changed. In a cluster, move the data directory away and start this node on an "
         "empty one: its peers rebuild it. On a single node, restore a backup (kvgo-server never "
         "repairs data silently)";
}

// LevelDB's own error rarely names the damaged file; its info log (LOG in
// the data directory) tells what it was reading. Names that file and says
// what to do.
std::string CorruptionHint(const std::string& dir) {
  const std::string log = ReadFile(dir + "/LOG");
  std::string file;
  // LOG holds this open attempt only (LevelDB rotates it): the version
  // set (manifest) is read first, then the write-ahead logs.
  const size_t manifest = log.rfind("recovering version set");
  const size_t rec = log.rfind("Recovering log #");
  if (rec == std::string::npos || (manifest != std::string::npos && manifest > rec)) {
    std::string current = ReadFile(dir + "/CURRENT");
    while (!current.empty() && (current.back() == '\n' || current.back() == '\r')) current.pop_back();
    if (!current.empty()) file = dir + "/" + current + " (the manifest named by " + dir + "/CURRENT)";
  } else {
    const uint64_t n = std::strtoull(log.c_str() + rec + 16, nullptr, 10);
    char name[32];
    std::snprintf(name, sizeof(name), "%06llu.log", static_cast<unsigned long long>(n));
    file = dir + "/" + name + " (the write-ahead log)";
  }
  return DamageAdvice(file.empty() ? std::string("unknown (see ") + dir + "/LOG)" : file);
}

}  // namespace

StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_directory, ec);
  if (ec) {
    return absl::UnavailableError("cannot create data directory " + options.data_directory + ": " + ec.message());
  }
  std::unique_ptr<Store> store(new Store());
  store->directory_ = options.data_directory;
  store->created_ = !std::filesystem::exists(options.data_directory + "/CURRENT", ec);
  store->cache_.reset(leveldb::NewLRUCache(options.block_cache_size));
  store->filter_.reset(leveldb::NewBloomFilterPolicy(10));

  leveldb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  o.write_buffer_size = options.write_buffer_size;
  o.max_file_size = options.max_file_size;
  o.max_open_files = options.max_open_files;
  o.block_cache = store->cache_.get();
  o.filter_policy = store->filter_.get();
  o.compression = options.snappy ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  store->env_ = options.env != nullptr ? options.env : StorageEnv();
  o.env = store->env_;

  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(o, options.data_directory, &db);
  if (!s.ok()) {
    std::string hint;
    if (s.ToString().find("lock") != std::string::npos) {
      hint = " (is another kvgo-server using this data directory?)";
    } else if (s.IsCorruption()) {
      hint = CorruptionHint(options.data_directory);
    }
    return absl::Status(FromLevelDB(s).code(),
                        "cannot open LevelDB in " + options.data_directory + ": " + s.ToString() + hint);
  }
  store->db_.reset(db);
  struct stat st {};
  if (stat(options.data_directory.c_str(), &st) == 0) {
    store->dir_dev_ = st.st_dev;
    store->dir_ino_ = st.st_ino;
  }
  return store;
}

Status Store::CheckDirectory() const {
  absl::MutexLock lock(&check_mu_);
  if (!directory_status_.ok()) return directory_status_;
  const auto now = std::chrono::steady_clock::now();
  if (now - checked_at_ < std::chrono::milliseconds(100)) return directory_status_;
  checked_at_ = now;
  struct stat st {};
  const bool same = stat(directory_.c_str(), &st) == 0 && st.st_dev == dir_dev_ && st.st_ino == dir_ino_ &&
                    stat((directory_ + "/CURRENT").c_str(), &st) == 0;
  if (!same) {
    directory_status_ = absl::DataLossError(
        "the data directory " + directory_ +
        " was deleted or replaced while the server ran: writes are refused (they would go to files no path leads "
        "to); reads still see the data as it was. Copy out what you need, then stop the server and restore the "
        "directory from a backup (a cluster master keeps its promises to its peers in the files it holds open: "
        "restarted on an empty directory it forgets them; see README, Replacing a node)");
  }
  return directory_status_;
}

Store::~Store() = default;

std::string Store::DescribeDamage() const {
  std::error_code ec;
  std::vector<std::string> tables;
  for (const auto& e : std::filesystem::directory_iterator(directory_, ec)) {
    const std::string ext = e.path().extension().string();
    if (ext == ".ldb" || ext == ".sst") tables.push_back(e.path().string());
  }
  std::sort(tables.begin(), tables.end());
  leveldb::Options o;
  o.env = leveldb::Env::Default();
  o.filter_policy = filter_.get();
  leveldb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  for (const std::string& path : tables) {
    uint64_t size = 0;
    leveldb::RandomAccessFile* raw = nullptr;
    if (!o.env->GetFileSize(path, &size).ok() || !o.env->NewRandomAccessFile(path, &raw).ok()) continue;
    std::unique_ptr<leveldb::RandomAccessFile> file(raw);
    leveldb::Table* t = nullptr;
    leveldb::Status s = leveldb::Table::Open(o, file.get(), size, &t);
    std::unique_ptr<leveldb::Table> table(t);
    if (s.ok()) {
      std::unique_ptr<leveldb::Iterator> it(table->NewIterator(ro));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
      }
      s = it->status();
    }
    if (!s.ok()) return DamageAdvice(path + " (a table: " + s.ToString() + ")");
  }
  return DamageAdvice("not found by a scan of the tables (see " + directory_ + "/LOG)");
}

Status Store::Get(const std::string& key, std::string* value, const leveldb::Snapshot* snapshot) const {
  leveldb::ReadOptions ro;
  ro.snapshot = snapshot;
  return FromLevelDB(db_->Get(ro, key, value));
}

void Store::CompactAll() { db_->CompactRange(nullptr, nullptr); }

std::shared_ptr<const leveldb::Snapshot> Store::TakeSnapshot() const {
  leveldb::DB* db = db_.get();
  return std::shared_ptr<const leveldb::Snapshot>(db->GetSnapshot(),
                                                  [db](const leveldb::Snapshot* s) { db->ReleaseSnapshot(s); });
}

std::unique_ptr<leveldb::Iterator> Store::NewIterator(const leveldb::Snapshot* snapshot) const {
  leveldb::ReadOptions ro;
  ro.snapshot = snapshot;
  return std::unique_ptr<leveldb::Iterator>(db_->NewIterator(ro));
}

Status Store::WriteSync(leveldb::WriteBatch* batch) {
  leveldb::WriteOptions wo;
  wo.sync = true;
  return FromLevelDB(db_->Write(wo, batch));
}

Status Store::Write(leveldb::WriteBatch* batch) { return FromLevelDB(db_->Write(leveldb::WriteOptions(), batch)); }

uint64_t Store::ApproximateSize(const std::string& start, const std::string& limit) const {
  leveldb::Range r(start, limit);
  uint64_t size = 0;
  db_->GetApproximateSizes(&r, 1, &size);
  return size;
}

std::string Store::Property(const std::string& name) const {
  std::string v;
  return db_->GetProperty(name, &v) ? v : std::string();
}

uint64_t Store::DiskUsage() const {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(directory_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) total += it->file_size(fec);
  }
  return total;
}

uint64_t Store::FreeBytes() const {
  struct statvfs st {};
  if (statvfs(directory_.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace kvgo::storage
