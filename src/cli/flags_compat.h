// Command-line helpers shared by the kvgo executables.
#pragma once

#include <string>
#include <vector>

namespace kvgo::cli {

// absl flags are spelled with underscores; users type dashes
// (--check-config). Returns argv with "--a-b[=v]" rewritten to "--a_b[=v]"
// (values and positional arguments untouched).
std::vector<std::string> DashesToUnderscores(int argc, char** argv);

// What absl::ParseCommandLine would reject in `args` (as returned by
// DashesToUnderscores): an unknown flag, or a flag that needs a value and
// has none. Returns "" if nothing. absl reports these itself but exits 1;
// the kvgo executables exit 2 for a bad command line.
std::string BadFlag(const std::vector<std::string>& args);

// If `args` (as returned by DashesToUnderscores) asks for help (--help,
// -h, --helpshort), prints the program's usage message and its own flags
// (those defined in src/cli/) to stdout and returns true: the caller exits
// 0. absl would exit 1 and, for a program whose flags live in another
// file, print "No flags matched". --helpfull stays absl's (every flag).
bool PrintHelpIfAsked(const std::vector<std::string>& args);

// absl's --help and --helpshort list the flags of src/cli/ (the
// executable's own), --version prints `version_line`, and file names show
// from src/ on, not the build machine's path.
void SetFlagsUsage(std::string version_line);

// The installation prefix: the parent of the folder holding this
// executable (/opt/lynkdb/kvgo-server for .../bin/kvgo-server). Relative
// paths in the config resolve against it, as in the original.
std::string InstallPrefix(const char* argv0);

}  // namespace kvgo::cli
