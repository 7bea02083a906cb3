// libFuzzer target: reading the Paxos WAL (src/replication/wal.h) from
// arbitrary segment files. The input's first byte splits the rest into two
// segments (an older one and the last one). Open must never crash: it
// returns the records, cutting a bad tail off the last segment, or a
// DataLoss error for a bad older segment; after a successful Open, a second
// Open must return the same records (the cut is durable and idempotent).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "replication/wal.h"

using kvgo::replication::Wal;

namespace {

std::string Dir() {
  static const std::string dir =
      (std::filesystem::temp_directory_path() / ("kvgo-wal-fuzz-" + std::to_string(getpid()))).string();
  return dir;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string dir = Dir();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const size_t split = std::min<size_t>(size - 1, data[0] * 16);
  WriteFile(dir + "/0000000000000001.wal", data + 1, split);
  WriteFile(dir + "/0000000000000002.wal", data + 1 + split, size - 1 - split);

  std::vector<Wal::Record> first;
  auto w = Wal::Open(dir, {}, &first);
  if (w.ok()) {
    w->reset();
    std::vector<Wal::Record> again;
    auto w2 = Wal::Open(dir, {}, &again);
    if (!w2.ok() || again.size() != first.size()) std::abort();
    for (size_t i = 0; i < again.size(); i++) {
      if (again[i].type != first[i].type || again[i].tag != first[i].tag || again[i].payload != first[i].payload) {
        std::abort();
      }
    }
  }
  std::filesystem::remove_all(dir);
  return 0;
}
