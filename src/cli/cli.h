// kvgo-cli's commands, independent of where their arguments come from (the
// command line or the interactive prompt), so that tests can drive them.
//
//   get KEY | put KEY VALUE | del KEY | scan [PREFIX] | watch | incr NS KEY
//   load FILE | table list | table set NAME [DESC] | key list [ID]
//   key set | status | check
//
// Exit codes: 0 ok, 1 not found, 2 usage error, 3 transport or server
// error, 4 refused by the server (status 4: validation, access denied).
//
// Not thread-safe: one command at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"

namespace kvgo::cli {

struct CliOptions {
  std::string table;          // "" = main
  bool json = false;          // machine-readable output
  int64_t ttl_seconds = 0;    // put: expire after
  bool create = false;        // put: only if absent
  uint64_t prev_version = 0;  // put/del: only if the key is at this version
  bool reverse = false;       // scan
  int64_t limit = 0;          // scan: at most this many keys (0 = all)
  bool count = false;         // scan: count only, with progress
  std::string from;           // scan: from this key (exclusive)
  std::string to;             // scan: to this key (inclusive)
  uint64_t from_version = 0;  // watch: start after this log version
  std::string id;             // key set: the key id to update ("" = new)
  std::string role = "client";
  std::string tables = "*";
  bool progress = false;  // draw progress bars (stderr is a terminal)
};

enum ExitCode { kExitOk = 0, kExitNotFound = 1, kExitUsage = 2, kExitError = 3, kExitRefused = 4 };

class Cli {
 public:
  Cli(std::shared_ptr<client::Client> client, std::ostream& out, std::ostream& err)
      : client_(std::move(client)), out_(out), err_(err) {}

  // Runs one command (args[0] is its name). Returns the exit code.
  int Run(const std::vector<std::string>& args, const CliOptions& o);

  // Stops a running watch or scan (from a signal handler: async-safe).
  void Interrupt() { interrupted_ = true; }

  static std::string Usage();

 private:
  int Get(const std::vector<std::string>& a, const CliOptions& o);
  int Put(const std::vector<std::string>& a, const CliOptions& o);
  int Del(const std::vector<std::string>& a, const CliOptions& o);
  int Scan(const std::vector<std::string>& a, const CliOptions& o);
  int Watch(const std::vector<std::string>& a, const CliOptions& o);
  int Incr(const std::vector<std::string>& a, const CliOptions& o);
  int Load(const std::vector<std::string>& a, const CliOptions& o);
  int Table(const std::vector<std::string>& a, const CliOptions& o);
  int Key(const std::vector<std::string>& a, const CliOptions& o);
  int Status(const CliOptions& o);
  int Check(const CliOptions& o);
  // Reports a transport error or a non-OK status; returns the exit code.
  int Fail(const grpc::Status& st, uint64_t status, const std::string& message);

  std::shared_ptr<client::Client> client_;
  std::ostream& out_;
  std::ostream& err_;
  std::atomic<bool> interrupted_{false};
};

// Splits an interactive line into words: blanks separate, '...' and "..."
// quote, backslash escapes. Returns false on an unterminated quote.
bool SplitWords(const std::string& line, std::vector<std::string>* words);

// A value as stored by the SDK, for display: the bytes after a 0x00 type
// byte, the JSON after 0x02, else the raw bytes.
std::string DisplayValue(const std::string& stored);

}  // namespace kvgo::cli
