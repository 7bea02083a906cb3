#include "storage/power_loss_env.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace kvgo::storage {

namespace {

bool Under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

}  // namespace

// A file being written. `base` is null for a file opened without power:
// nothing of it reaches the disk.
class PowerLossEnv::File final : public leveldb::WritableFile {
 public:
  File(PowerLossEnv* env, std::string name, leveldb::WritableFile* base)
      : env_(env), name_(std::move(name)), base_(base) {}

  leveldb::Status Append(const leveldb::Slice& data) override {
    absl::MutexLock lock(&env_->mu_);
    if (base_ == nullptr || env_->Off(name_)) return leveldb::Status::OK();
    leveldb::Status s = base_->Append(data);
    if (s.ok()) env_->files_[name_].length += data.size();
    return s;
  }
  leveldb::Status Flush() override {
    absl::MutexLock lock(&env_->mu_);
    if (base_ == nullptr || env_->Off(name_)) return leveldb::Status::OK();
    return base_->Flush();
  }
  leveldb::Status Sync() override {
    absl::MutexLock lock(&env_->mu_);
    if (base_ == nullptr || env_->Off(name_)) return leveldb::Status::OK();
    leveldb::Status s = base_->Sync();
    if (s.ok()) {
      Ledger& f = env_->files_[name_];
      f.synced = f.length;
    }
    return s;
  }
  // Data still buffered may reach the file here even without power; the
  // cut at PowerOn removes it again (it was never synced).
  leveldb::Status Close() override { return base_ == nullptr ? leveldb::Status::OK() : base_->Close(); }

 private:
  PowerLossEnv* const env_;
  const std::string name_;
  const std::unique_ptr<leveldb::WritableFile> base_;
};

bool PowerLossEnv::Off(const std::string& path) const {
  for (const auto& dir : off_) {
    if (Under(path, dir)) return true;
  }
  return false;
}

void PowerLossEnv::PowerOff(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  off_.insert(dir);
}

uint64_t PowerLossEnv::PowerOn(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  uint64_t dropped = 0;
  for (auto it = files_.begin(); it != files_.end();) {
    if (!Under(it->first, dir)) {
      ++it;
      continue;
    }
    struct stat st;
    if (::stat(it->first.c_str(), &st) != 0) {
      it = files_.erase(it);
      continue;
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > it->second.synced) {
      if (::truncate(it->first.c_str(), static_cast<off_t>(it->second.synced)) != 0) {
        // A cut that did not happen would pass for a clean run.
        std::fprintf(stderr, "PowerLossEnv: cannot truncate %s: %s\n", it->first.c_str(), std::strerror(errno));
        std::abort();
      }
      dropped += size - it->second.synced;
    }
    it->second.length = it->second.synced;
    ++it;
  }
  off_.erase(dir);
  return dropped;
}

leveldb::Status PowerLossEnv::NewWritableFile(const std::string& name, leveldb::WritableFile** out) {
  absl::MutexLock lock(&mu_);
  if (Off(name)) {
    *out = new File(this, name, nullptr);
    return leveldb::Status::OK();
  }
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewWritableFile(name, &base);
  if (!s.ok()) return s;
  files_[name] = Ledger{};
  *out = new File(this, name, base);
  return s;
}

leveldb::Status PowerLossEnv::NewAppendableFile(const std::string& name, leveldb::WritableFile** out) {
  absl::MutexLock lock(&mu_);
  if (Off(name)) {
    *out = new File(this, name, nullptr);
    return leveldb::Status::OK();
  }
  uint64_t size = 0;
  if (!target()->GetFileSize(name, &size).ok()) size = 0;
  leveldb::WritableFile* base = nullptr;
  leveldb::Status s = target()->NewAppendableFile(name, &base);
  if (!s.ok()) return s;
  // A file cut short since (the WAL truncates a torn tail) holds only `size`.
  auto [it, fresh] = files_.try_emplace(name, Ledger{size, size});
  if (!fresh) it->second = Ledger{std::min(it->second.length, size), std::min(it->second.synced, size)};
  *out = new File(this, name, base);
  return s;
}

leveldb::Status PowerLossEnv::RemoveFile(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (Off(name)) return leveldb::Status::OK();
  leveldb::Status s = target()->RemoveFile(name);
  if (s.ok()) files_.erase(name);
  return s;
}

leveldb::Status PowerLossEnv::RenameFile(const std::string& from, const std::string& to) {
  absl::MutexLock lock(&mu_);
  if (Off(from) || Off(to)) return leveldb::Status::OK();
  leveldb::Status s = target()->RenameFile(from, to);
  if (!s.ok()) return s;
  auto it = files_.find(from);
  if (it == files_.end()) {
    files_.erase(to);
  } else {
    files_[to] = it->second;
    files_.erase(it);
  }
  return s;
}

}  // namespace kvgo::storage
