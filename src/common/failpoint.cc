#include "common/failpoint.h"

#ifdef KVGO_FAILPOINTS

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace kvgo::failpoint {

namespace {

struct Action {
  bool crash = false;
  bool powerloss = false;  // crash after dropping what was not synced
  int nth = 0;             // crash: at this hit (0 = the first)
  int sleep_ms = 0;        // sleep: at every hit
  long long value = 0;     // value: what Value() returns
  int hits = 0;
};

std::mutex mu;
std::map<std::string, Action> armed;  // GUARDED_BY(mu)
bool loaded = false;                  // GUARDED_BY(mu)
std::string file_spec;                // GUARDED_BY(mu): the file's last content
std::chrono::steady_clock::time_point next_check;

void Parse(const std::string& spec, std::map<std::string, Action>* out) {
  std::string item;
  std::stringstream in(spec);
  while (std::getline(in, item, ';')) {
    std::stringstream parts(item);
    std::string one;
    while (std::getline(parts, one, ',')) {
      std::stringstream lines(one);
      std::string line;
      while (std::getline(lines, line)) {
        const auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string name = line.substr(0, eq), action = line.substr(eq + 1);
        auto trim = [](std::string s) {
          while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
          while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
          return s;
        };
        name = trim(name);
        action = trim(action);
        Action a;
        if (action.rfind("crash", 0) == 0 || action.rfind("powerloss", 0) == 0) {
          a.crash = true;
          a.powerloss = action[0] == 'p';
          const size_t at = action.find('@');
          if (at != std::string::npos) a.nth = std::atoi(action.c_str() + at + 1);
        } else if (action.rfind("sleep:", 0) == 0) {
          a.sleep_ms = std::atoi(action.c_str() + 6);
        } else if (action.rfind("value:", 0) == 0) {
          a.value = std::atoll(action.c_str() + 6);
        } else {
          std::fprintf(stderr, "failpoint %s: unknown action '%s' ignored\n", name.c_str(), action.c_str());
          continue;
        }
        (*out)[name] = a;
      }
    }
  }
}

// Loads the environment's spec once, and the file's whenever it changed
// (checked at most every 50 ms).
void Refresh() {
  if (!loaded) {
    loaded = true;
    if (const char* env = std::getenv("KVGO_FAILPOINTS")) Parse(env, &armed);
  }
  const char* path = std::getenv("KVGO_FAILPOINTS_FILE");
  if (path == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check) return;
  next_check = now + std::chrono::milliseconds(50);
  std::ifstream f(path);
  std::stringstream content;
  if (f) content << f.rdbuf();
  if (content.str() == file_spec) return;
  file_spec = content.str();
  armed.clear();
  if (const char* env = std::getenv("KVGO_FAILPOINTS")) Parse(env, &armed);
  Parse(file_spec, &armed);
  std::fprintf(stderr, "failpoints armed from %s: %zu\n", path, armed.size());
}

// What each file written through DiskWrite holds: its length, and its
// length at the last completed sync.
struct DiskFile {
  uint64_t length = 0;
  uint64_t synced = 0;
};
std::mutex disk_mu;
std::map<std::string, DiskFile> disk_files;  // GUARDED_BY(disk_mu)

// Cuts every file back to its synced length. Called with disk_mu held, so
// that no write can land afterwards; the caller kills the process.
void LosePower(const char* name) {
  uint64_t dropped = 0, files = 0;
  for (const auto& [path, f] : disk_files) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) <= f.synced) continue;
    if (::truncate(path.c_str(), static_cast<off_t>(f.synced)) != 0) {
      std::fprintf(stderr, "failpoint %s: cannot truncate %s\n", name, path.c_str());
      continue;
    }
    dropped += static_cast<uint64_t>(st.st_size) - f.synced;
    files++;
    std::fprintf(stderr, "failpoint %s: power loss cut %s from %lld to %llu bytes\n", name, path.c_str(),
                 static_cast<long long>(st.st_size), static_cast<unsigned long long>(f.synced));
  }
  std::fprintf(stderr, "failpoint %s: power loss, %llu bytes not synced were dropped from %llu files\n", name,
               static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(files));
}

}  // namespace

DiskWrite::DiskWrite(const std::string& path) : path_(path), lock_(disk_mu) {}

void DiskWrite::Wrote(uint64_t n) { disk_files[path_].length += n; }

void DiskOpened(const std::string& path, uint64_t size) {
  std::lock_guard lock(disk_mu);
  disk_files[path] = DiskFile{size, size};
}

uint64_t DiskSyncBegin(const std::string& path) {
  std::lock_guard lock(disk_mu);
  auto it = disk_files.find(path);
  return it == disk_files.end() ? 0 : it->second.length;
}

void DiskSynced(const std::string& path, uint64_t length) {
  std::lock_guard lock(disk_mu);
  auto it = disk_files.find(path);
  if (it != disk_files.end()) it->second.synced = std::max(it->second.synced, length);
}

void DiskRemoved(const std::string& path) {
  std::lock_guard lock(disk_mu);
  disk_files.erase(path);
}

void DiskRenamed(const std::string& from, const std::string& to) {
  std::lock_guard lock(disk_mu);
  auto it = disk_files.find(from);
  if (it == disk_files.end()) {
    disk_files.erase(to);
    return;
  }
  DiskFile f = it->second;
  disk_files.erase(it);
  disk_files[to] = f;
}

void Hit(const char* name) {
  int sleep_ms = 0;
  {
    std::lock_guard lock(mu);
    Refresh();
    auto it = armed.find(name);
    if (it == armed.end()) return;
    Action& a = it->second;
    a.hits++;
    if (a.crash && (a.nth == 0 || a.hits == a.nth)) {
      std::unique_lock<std::mutex> disk;
      if (a.powerloss) {
        disk = std::unique_lock(disk_mu);  // held until the kill: no write lands after the cut
        LosePower(name);
      }
      std::fprintf(stderr, "failpoint %s: crash\n", name);
      std::fflush(stderr);
      kill(getpid(), SIGKILL);
      pause();
    }
    sleep_ms = a.sleep_ms;
  }
  if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
}

long long Value(const char* name) {
  std::lock_guard lock(mu);
  Refresh();
  auto it = armed.find(name);
  return it == armed.end() ? 0 : it->second.value;
}

}  // namespace kvgo::failpoint

#endif  // KVGO_FAILPOINTS
