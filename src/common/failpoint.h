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
// Before crashing it writes "failpoint NAME: crash" to stderr.
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

#ifdef KVGO_FAILPOINTS
namespace kvgo::failpoint {
// Runs the action armed for `name`, if any.
void Hit(const char* name);
// The value armed for `name` (value:N), or 0.
long long Value(const char* name);
}  // namespace kvgo::failpoint
#define KVGO_FAILPOINT(name) ::kvgo::failpoint::Hit(name)
#define KVGO_FAILPOINT_VALUE(name) ::kvgo::failpoint::Value(name)
#else
#define KVGO_FAILPOINT(name) static_cast<void>(0)
#define KVGO_FAILPOINT_VALUE(name) 0
#endif
