// Failpoints: named places in the code where a test build can crash the
// process or stall it, to test what happens at exactly that point (a crash
// between persisting and sending, a slow fsync, ...).
//
// KVGO_FAILPOINT(name) compiles to nothing unless KVGO_FAILPOINTS is
// defined, which only the test binary kvgo-server-failpoints is built with
// (src/cli/CMakeLists.txt): the released kvgo-server has no failpoint code.
//
// In the test binary a failpoint is armed by a spec, from the environment
// variable KVGO_FAILPOINTS, or from the file named by KVGO_FAILPOINTS_FILE
// (re-read when it changes, so a test can arm and disarm one while the
// server runs). The spec is a list of `name=action`, separated by `;`,
// `,` or newlines, where action is
//   crash      SIGKILL this process at the first hit (like kill -9)
//   crash@N    ... at the N-th hit
//   sleep:MS   sleep MS milliseconds at every hit
//   value:N    KVGO_FAILPOINT_VALUE(name) returns N (otherwise 0)
//   powerloss  like crash, after cutting every file this process wrote
//   powerloss@N    back to what was last synced (below)
// Before crashing it writes "failpoint NAME: crash" to stderr; a power loss
// writes "failpoint NAME: power loss cut PATH from A to B bytes" for each
// file it cut and "failpoint NAME: power loss, N bytes not synced were
// dropped from M files" first.
//
// Power loss: kill -9 keeps the page cache, so a crash alone never loses
// a write that was not synced. The writers of durable state (LevelDB's
// files through storage/env.h, the Paxos WAL) report each file's writes
// and syncs here (DiskWrite, DiskSyncBegin/DiskSynced, ...); `powerloss`
// truncates each file to its length at its last completed sync, the worst
// a disk that keeps writes in order may do (an unsynced suffix of each file
// is lost; data a sync covered is not). Renames and deletions count as
// durable at once, and a file that existed when it was opened counts as
// synced up to its length then. In builds without failpoints these calls
// are empty inline functions. (DiskWrite differs between the two builds:
// every source that uses it must be among those compiled again for
// kvgo-server-failpoints, src/cli/CMakeLists.txt.)
//
// The failpoints (docs/testing.md lists what each test does with them):
//   paxos.persist.before / paxos.persist.after  cluster: around the
//       Paxos WAL append of a Ready (promise, accepted entries)
//   wal.append.torn      cluster: halfway through writing a WAL append (a
//       crash here leaves a torn record at the end of the WAL)
//   apply.before / apply.after                  cluster: before applying
//       chosen commands, after their effects are published
//   commit.persist.before / commit.persist.after  single node: around the
//       synced write of a group commit
//   snapshot.send / snapshot.install            per snapshot chunk
//   leveldb.table.write  a write to a table file (memtable flush or
//       compaction)
//   disk.fsync           every fsync LevelDB and the Paxos WAL do
//       (slow-disk tests)
//   clock.wall_offset_ms (a value) added to the wall clock, SystemClock()
//       ->NowMs(): a clock jump; the monotonic clock is never affected
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#ifdef KVGO_FAILPOINTS
namespace kvgo::failpoint {
// Runs the action armed for `name`, if any.
void Hit(const char* name);
// The value armed for `name` (value:N), or 0.
long long Value(const char* name);

// Held across one write to `path` (the write syscall, or an append that
// may make one): a power loss waits for it, so no write lands after the
// files were cut. Wrote(n) records n more bytes. Never hit a failpoint
// while holding one.
class DiskWrite {
 public:
  explicit DiskWrite(const std::string& path);
  void Wrote(uint64_t n);

 private:
  const std::string& path_;
  std::unique_lock<std::mutex> lock_;
};
// `path` was opened for writing; `size` bytes of it are already durable.
void DiskOpened(const std::string& path, uint64_t size);
// Before a sync of `path`: the length the sync will make durable.
uint64_t DiskSyncBegin(const std::string& path);
// After the sync succeeded.
void DiskSynced(const std::string& path, uint64_t length);
void DiskRemoved(const std::string& path);
void DiskRenamed(const std::string& from, const std::string& to);
}  // namespace kvgo::failpoint
#define KVGO_FAILPOINT(name) ::kvgo::failpoint::Hit(name)
#define KVGO_FAILPOINT_VALUE(name) ::kvgo::failpoint::Value(name)
#else
namespace kvgo::failpoint {
class DiskWrite {
 public:
  explicit DiskWrite(const std::string&) {}
  void Wrote(uint64_t) {}
};
inline void DiskOpened(const std::string&, uint64_t) {}
inline uint64_t DiskSyncBegin(const std::string&) { return 0; }
inline void DiskSynced(const std::string&, uint64_t) {}
inline void DiskRemoved(const std::string&) {}
inline void DiskRenamed(const std::string&, const std::string&) {}
}  // namespace kvgo::failpoint
#define KVGO_FAILPOINT(name) static_cast<void>(0)
#define KVGO_FAILPOINT_VALUE(name) 0
#endif
