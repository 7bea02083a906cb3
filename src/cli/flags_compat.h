// Command-line helpers shared by the kvgo executables.
#pragma once

#include <string>
#include <vector>

namespace kvgo::cli {

// absl flags are spelled with underscores; users type dashes
// (--check-config). Returns argv with "--a-b[=v]" rewritten to "--a_b[=v]"
// (values and positional arguments untouched).
std::vector<std::string> DashesToUnderscores(int argc, char** argv);

// The installation prefix: the parent of the folder holding this
// executable (/opt/lynkdb/kvgo-server for .../bin/kvgo-server). Relative
// paths in the config resolve against it, as in the original.
std::string InstallPrefix(const char* argv0);

}  // namespace kvgo::cli
