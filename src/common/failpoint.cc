#include "common/failpoint.h"

#ifdef KVGO_FAILPOINTS

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

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
  int nth = 0;          // crash: at this hit (0 = the first)
  int sleep_ms = 0;     // sleep: at every hit
  long long value = 0;  // value: what Value() returns
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
        if (action.rfind("crash", 0) == 0) {
          a.crash = true;
          if (action.size() > 6 && action[5] == '@') a.nth = std::atoi(action.c_str() + 6);
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

}  // namespace

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
