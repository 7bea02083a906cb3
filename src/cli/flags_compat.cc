#include "cli/flags_compat.h"

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace kvgo::cli {

std::vector<std::string> DashesToUnderscores(int argc, char** argv) {
  std::vector<std::string> out;
  bool after_terminator = false;
  for (int i = 0; i < argc; i++) {
    std::string a = argv[i];
    if (i > 0 && !after_terminator && a == "--") after_terminator = true;
    if (i > 0 && !after_terminator && a.size() > 2 && a[0] == '-' && a[1] == '-') {
      size_t end = a.find('=');
      if (end == std::string::npos) end = a.size();
      for (size_t j = 2; j < end; j++) {
        if (a[j] == '-') a[j] = '_';
      }
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::string BadFlag(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a == "--") break;  // the rest is positional
    if (a.size() < 2 || a[0] != '-') continue;
    const size_t dashes = a[1] == '-' ? 2 : 1;
    const size_t eq = a.find('=');
    const std::string name = a.substr(dashes, eq == std::string::npos ? std::string::npos : eq - dashes);
    // absl's usage flags are not in its registry.
    if (name == "help" || name == "helpfull" || name == "helpshort" || name == "helppackage" || name == "version" ||
        name == "only_check_args") {
      continue;
    }
    if (name == "helpon" || name == "helpmatch") {
      if (eq == std::string::npos) i++;
      continue;
    }
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && name.rfind("no", 0) == 0) {  // --noFLAG for a bool
      const absl::CommandLineFlag* b = absl::FindCommandLineFlag(name.substr(2));
      if (b != nullptr && b->IsOfType<bool>() && eq == std::string::npos) continue;
    }
    if (flag == nullptr) return "unknown flag " + a.substr(0, eq) + " (--help lists the flags)";
    if (eq != std::string::npos || flag->IsOfType<bool>()) continue;
    if (i + 1 == args.size()) return "missing the value for " + a;
    i++;  // the value
  }
  return "";
}

bool PrintHelpIfAsked(const std::vector<std::string>& args) {
  bool asked = false;
  for (size_t i = 1; i < args.size() && args[i] != "--"; i++) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "-help" || a == "--helpshort" || a == "-helpshort") asked = true;
  }
  if (!asked) return false;
  std::vector<const absl::CommandLineFlag*> own;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), "src/cli/")) own.push_back(flag);
  }
  std::sort(own.begin(), own.end(), [](auto* a, auto* b) { return a->Name() < b->Name(); });
  std::cout << absl::ProgramUsageMessage() << "\n\nflags (--name=value; --a-b is --a_b):\n";
  for (const absl::CommandLineFlag* f : own) {
    std::cout << "  --" << f->Name() << "  " << f->Help();
    const std::string def = f->DefaultValue();
    if (!def.empty() && def != "0" && def != "false") std::cout << " (default " << def << ")";
    std::cout << "\n";
  }
  std::cout << "--helpfull also lists the flags of gRPC and abseil.\n";
  return true;
}

void SetFlagsUsage(std::string version_line) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) { return absl::StrContains(file, "src/cli/"); };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [version_line] { return version_line + "\n"; };
  usage.normalize_filename = [](absl::string_view file) {
    const size_t at = file.rfind("src/");
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  absl::SetFlagsUsageConfig(usage);
}

std::string InstallPrefix(const char* argv0) {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::absolute(argv0, ec);
  return exe.parent_path().parent_path().lexically_normal().string();
}

}  // namespace kvgo::cli
