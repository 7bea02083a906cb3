#include "cli/flags_compat.h"

#include <filesystem>

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

std::string InstallPrefix(const char* argv0) {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::absolute(argv0, ec);
  return exe.parent_path().parent_path().lexically_normal().string();
}

}  // namespace kvgo::cli
