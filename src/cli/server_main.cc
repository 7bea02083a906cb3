// kvgo-server: a straight line. Parse flags, load the config, open the
// store and start serving, then wait for signals: SIGHUP reloads the config,
// SIGTERM/SIGINT shut down gracefully. Exit codes: 0 clean stop, 1 runtime
// failure (storage, port), 2 bad command line or config, or a data directory
// that cannot be used as configured.
#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <signal.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "cli/flags_compat.h"
#include "cli/sd_notify.h"
#include "common/log_limiter.h"
#include "config/config.h"
#include "config/settings.h"
#include "server/server.h"

ABSL_FLAG(std::string, config, "",
          "path of the TOML config (default <prefix>/etc/kvgo-server.conf, where <prefix> is the "
          "parent of the binary's folder)");
ABSL_FLAG(bool, check_config, false,
          "validate the config, print the effective configuration and exit (0 valid, 2 invalid)");
ABSL_FLAG(bool, config_reference, false,
          "print every config key (type, default, range, whether SIGHUP applies it) as a Markdown table and exit");
ABSL_FLAG(bool, reset_identity, false,
          "record this config's mode (single node, or cluster master) in the data directory, replacing what it "
          "holds: for a data directory moved to another role on purpose");

namespace {

// A library's message, one line, at most once a minute per code location.
void LogLimited(spdlog::level::level_enum level, const char* lib, std::string msg, const char* file, int line) {
  static kvgo::LogLimiter limiter;
  uint64_t suppressed = 0;
  if (!limiter.Allow(std::string(file) + ":" + std::to_string(line), &suppressed)) return;
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  spdlog::log(level, "{}: {} ({}:{}){}", lib, msg, file, line,
              suppressed > 0 ? " (and " + std::to_string(suppressed) + " more in the last minute)" : "");
}

void SetupLogging(const kvgo::Config& cfg) {
  std::shared_ptr<spdlog::logger> logger;
  if (cfg.log_file.empty()) {
    logger = std::make_shared<spdlog::logger>("kvgo", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    logger = std::make_shared<spdlog::logger>(
        "kvgo", std::make_shared<spdlog::sinks::rotating_file_sink_mt>(cfg.log_file, 100 << 20, 5));
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  // gRPC's and protobuf's own messages go to the same log, one line each,
  // in our format (and to the log file when one is set); errors as
  // warnings, since the server reports what they mean itself (a port in
  // use, say). A client can make either say something on every call (a
  // failed handshake, a string that is not UTF-8): each code location at
  // most once a minute.
  gpr_set_log_function([](gpr_log_func_args* a) {
    const auto level = a->severity == GPR_LOG_SEVERITY_ERROR ? spdlog::level::warn : spdlog::level::debug;
    if (!spdlog::should_log(level)) return;
    LogLimited(level, "grpc", a->message, a->file, a->line);
  });
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel l, const char* file, int line, const std::string& message) {
        const auto level = l >= google::protobuf::LOGLEVEL_ERROR     ? spdlog::level::warn
                           : l == google::protobuf::LOGLEVEL_WARNING ? spdlog::level::info
                                                                     : spdlog::level::debug;
        if (!spdlog::should_log(level)) return;
        LogLimited(level, "protobuf", message, file, line);
      });
}

// LevelDB keeps up to [performance] max_open_files tables open, and every
// client connection, peer stream and log file takes a descriptor too. Raises
// the soft open-file limit towards what that needs (up to the hard limit,
// as Redis does); what it cannot get shrinks the connections the port
// takes (server::ConnectionLimit), which is said here.
void EnsureFileLimit(const kvgo::Config& cfg) {
  const rlim_t connections =
      cfg.max_connections > 0 ? static_cast<rlim_t>(cfg.max_connections) : kvgo::server::kDefaultMaxConnections;
  const rlim_t want = static_cast<rlim_t>(cfg.max_open_files) + kvgo::server::kReservedFds + connections;
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want) return;
  const rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
  if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    spdlog::info("raised the open-file limit from {} to {}", was, rl.rlim_cur);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  if (rl.rlim_cur < static_cast<rlim_t>(cfg.max_open_files) + kvgo::server::kReservedFds) {
    spdlog::warn(
        "the open-file limit is {} (hard limit {}), below [performance] max_open_files {} + {} for the server "
        "itself: under load LevelDB will fail with 'Too many open files'. Raise it (systemd: LimitNOFILE=, shell: "
        "ulimit -n) or lower max_open_files; the port takes at most {} connections meanwhile",
        rl.rlim_cur, rl.rlim_max, cfg.max_open_files, kvgo::server::kReservedFds, kvgo::server::ConnectionLimit(cfg));
  } else {
    spdlog::warn(
        "the open-file limit is {} (hard limit {}): after [performance] max_open_files {} and {} for the server "
        "itself, the port takes at most {} connections at once. Raise it (systemd: LimitNOFILE=, shell: ulimit -n) "
        "for more",
        rl.rlim_cur, rl.rlim_max, cfg.max_open_files, kvgo::server::kReservedFds, kvgo::server::ConnectionLimit(cfg));
  }
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC locks absl::Mutex on every call; Debian's abseil checks each lock
  // for deadlock cycles, which costs more than the lock. Turn that off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "kvgo-server [--config PATH] [--check-config] [--config-reference] [--reset-identity] [--version]");
  kvgo::cli::SetFlagsUsage("kvgo-server " KVGO_VERSION);
  std::vector<std::string> args = kvgo::cli::DashesToUnderscores(argc, argv);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  if (kvgo::cli::PrintHelpIfAsked(args)) return 0;
  if (const std::string bad = kvgo::cli::BadFlag(args); !bad.empty()) {
    std::cerr << "kvgo-server: " << bad << "\n";
    return 2;
  }
  absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());

  if (absl::GetFlag(FLAGS_config_reference)) {
    std::cout << kvgo::ReferenceTable();
    return 0;
  }
  const std::string prefix = kvgo::cli::InstallPrefix(argv[0]);
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) path = prefix + "/etc/kvgo-server.conf";
  auto cfg = kvgo::LoadConfig(path, prefix);
  if (!cfg.ok()) {
    std::cerr << "kvgo-server: invalid configuration: " << cfg.status().message() << "\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    std::cout << cfg->ToToml();
    return 0;
  }
  SetupLogging(*cfg);
  EnsureFileLimit(*cfg);

  // Signals are taken synchronously by this thread only; every thread
  // started from here on inherits the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  kvgo::server::ServerOptions options;
  options.reset_identity = absl::GetFlag(FLAGS_reset_identity);
  auto server = kvgo::server::Server::Start(*cfg, options);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", std::string(server.status().message()));
    // A data directory that cannot be used as configured: no restart helps.
    return absl::IsFailedPrecondition(server.status()) ? 2 : 1;
  }
  kvgo::cli::SdNotify("READY=1\nSTATUS=serving");

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading {}", path);
      kvgo::cli::SdNotify("RELOADING=1");
      auto next = kvgo::LoadConfig(path, prefix);
      if (!next.ok()) {
        (*server)->metrics()->CountConfigReload(false);
        spdlog::error("reload failed, keeping the running configuration: {}", std::string(next.status().message()));
      } else {
        (*server)->metrics()->CountConfigReload(true);
        auto restart = (*server)->Reload(*next);
        if (!restart.empty()) {
          spdlog::warn("changed keys that need a restart (still running on the old values): {}",
                       absl::StrJoin(restart, ", "));
        }
        spdlog::info("configuration reloaded");
      }
      kvgo::cli::SdNotify("READY=1");
      continue;
    }
    spdlog::info("signal {}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    kvgo::cli::SdNotify("STOPPING=1");
    (*server)->Shutdown();
    server->reset();
    return 0;
  }
}
