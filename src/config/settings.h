// The table of every configuration key. One row per key says its type,
// default, range, whether a SIGHUP applies it, and its help text; the row
// drives the parsing of the key (config.cc), --check-config's output
// (Config::ToToml), the split of a reload into what is applied and what
// needs a restart (PlanReload), and the README's reference (ReferenceTable;
// config_test fails when README.md and the table disagree).
//
// Thread-safety: the table is immutable; every function here is pure.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"

namespace kvgo {

enum class SettingType {
  kString,
  kPath,    // a string; relative to the prefix
  kAddr,    // "host:port"
  kSecret,  // at least 20 characters, no control characters; masked on output
  kChoice,  // one of `choices`
  kInt,     // between min and max
  kBytes,   // a byte count, at least min
  kPems,    // a PEM read from a file or given inline (parsed by hand)
};

struct Setting {
  // "storage", "server.auth_tls_cert", "cluster.masters" (an array of
  // tables when array is set).
  const char* section;
  const char* key;
  SettingType type;
  bool live;  // a SIGHUP applies it; otherwise a change needs a restart
  const char* help;
  // The README's default when it is not the value of Config{} (nullptr:
  // Config{}'s value).
  const char* default_text = nullptr;
  int64_t min = 0, max = 0;  // kInt, kBytes; kString: min 1 = not empty
  const char* choices = "";  // kChoice: "a|b|c"
  bool array = false;
  // The member a plain key is read into. Rows without one, and rows with
  // by_hand set, are parsed in config.cc by code of their own.
  std::variant<std::monostate, std::string Config::*, int Config::*, uint64_t Config::*> field;
  bool by_hand = false;
  // Rows without a field: whether two configs agree on the key, and
  // (live rows) how a reload takes it. nullptr: another row covers it.
  bool (*same)(const Config&, const Config&) = nullptr;
  void (*take)(const Config& from, Config* to) = nullptr;
  // Rows without a field: the value for --check-config ("" = none).
  std::string (*show)(const Config&) = nullptr;

  // "storage.quota_bytes": the name in error messages and reload reports.
  std::string Name() const;
};

// Every key, in the order of the README and --check-config.
const std::vector<Setting>& Settings();

// The keys and subsections allowed in `section` ("" = the top level).
std::vector<std::string> AllowedKeys(const std::string& section);

// The key's value in `c` as TOML (secrets masked), or "" when it has none
// to show (a key only read, or unset).
std::string ShowSetting(const Setting& s, const Config& c);

// `running` with the live keys of `loaded` applied: into `*next`. Returns
// the names of the changed keys that need a restart, each once.
std::vector<std::string> PlanReload(const Config& running, const Config& loaded, Config* next);

// `v` as a TOML basic string.
std::string TomlQuote(const std::string& v);

// The README's configuration reference: a Markdown table, one row a key.
std::string ReferenceTable();

}  // namespace kvgo
