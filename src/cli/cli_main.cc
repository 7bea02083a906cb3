// kvgo-cli: an etcdctl/redis-cli-like client of kvgo-server. One command
// from the command line, or an interactive prompt (libedit, with history)
// when run without one. See `kvgo-cli help`.
#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "cli/cli.h"
#include "cli/flags_compat.h"
#include "config/config.h"

ABSL_FLAG(std::string, addr, "", "server address host:port ($KVGO_ADDR, default 127.0.0.1:9100)");
ABSL_FLAG(std::string, secret, "", "access key secret ($KVGO_SECRET)");
ABSL_FLAG(std::string, key_id, "", "access key id ($KVGO_KEY_ID, default 00000000)");
ABSL_FLAG(std::string, config, "", "read addr, secret and TLS settings from this kvgo-server config");
ABSL_FLAG(std::string, tls_cert, "",
          "TLS: a PEM file with the server's certificate or its CA ($KVGO_TLS_CERT; default: plaintext)");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name to check the server's certificate against (default: the "
          "host of --addr)");
ABSL_FLAG(int64_t, timeout_ms, 10000, "per-call timeout");
ABSL_FLAG(std::string, table, "", "table (default main)");
ABSL_FLAG(bool, json, false, "JSON output");
ABSL_FLAG(int64_t, ttl, 0, "put: expire after this many seconds");
ABSL_FLAG(bool, create, false, "put: only if the key does not exist");
ABSL_FLAG(uint64_t, prev_version, 0, "put/del: only if the key is at this version");
ABSL_FLAG(bool, reverse, false, "scan: descending");
ABSL_FLAG(int64_t, limit, 0, "scan: at most this many keys (0 = all)");
ABSL_FLAG(bool, count, false, "scan: only count the keys");
ABSL_FLAG(std::string, from, "", "scan: from this key (exclusive)");
ABSL_FLAG(std::string, to, "", "scan: up to this key (inclusive)");
ABSL_FLAG(uint64_t, from_version, 0, "watch: start after this log version");
ABSL_FLAG(std::string, id, "", "key set: the access key id to update ('' = new key)");
ABSL_FLAG(std::string, role, "client", "key set: sa or client");
ABSL_FLAG(std::string, tables, "*", "key set: tables the key may use (comma-separated, or *)");

namespace {

kvgo::cli::Cli* g_cli = nullptr;

void OnSigint(int) {
  if (g_cli) g_cli->Interrupt();
}

// Options of one command, read from the flags.
kvgo::cli::CliOptions CommandOptions() {
  kvgo::cli::CliOptions o;
  o.table = absl::GetFlag(FLAGS_table);
  o.json = absl::GetFlag(FLAGS_json);
  o.ttl_seconds = absl::GetFlag(FLAGS_ttl);
  o.create = absl::GetFlag(FLAGS_create);
  o.prev_version = absl::GetFlag(FLAGS_prev_version);
  o.reverse = absl::GetFlag(FLAGS_reverse);
  o.limit = absl::GetFlag(FLAGS_limit);
  o.count = absl::GetFlag(FLAGS_count);
  o.from = absl::GetFlag(FLAGS_from);
  o.to = absl::GetFlag(FLAGS_to);
  o.from_version = absl::GetFlag(FLAGS_from_version);
  o.id = absl::GetFlag(FLAGS_id);
  o.role = absl::GetFlag(FLAGS_role);
  o.tables = absl::GetFlag(FLAGS_tables);
  o.progress = isatty(STDERR_FILENO) != 0;
  return o;
}

// At the prompt: "--name=value" / "--name" words set the command flags for
// this one command (through absl's own value parsing), the rest are the
// command. Returns false (with a message) on an unknown flag or bad value.
bool ApplyPromptFlags(std::vector<std::string>* words, std::string* error) {
  static const char* kCommandFlags[] = {"table", "json", "ttl", "create",       "prev_version", "reverse", "limit",
                                        "count", "from", "to",  "from_version", "id",           "role",    "tables"};
  for (const char* name : kCommandFlags) {  // reset to defaults
    absl::CommandLineFlag* f = absl::FindCommandLineFlag(name);
    std::string ignored;
    f->ParseFrom(f->DefaultValue(), &ignored);
  }
  std::vector<std::string> rest;
  for (const std::string& w : *words) {
    if (w.size() < 3 || w.compare(0, 2, "--") != 0) {
      rest.push_back(w);
      continue;
    }
    std::string name = w.substr(2);
    std::string value = "true";
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    for (char& c : name) {
      if (c == '-') c = '_';
    }
    bool allowed = false;
    for (const char* n : kCommandFlags) allowed |= name == n;
    absl::CommandLineFlag* f = allowed ? absl::FindCommandLineFlag(name) : nullptr;
    if (f == nullptr) {
      *error = "unknown flag --" + name;
      return false;
    }
    if (!f->ParseFrom(value, error)) return false;
  }
  *words = std::move(rest);
  return true;
}

int Interactive(kvgo::cli::Cli* cli) {
  const char* home = std::getenv("HOME");
  const std::string history = std::string(home ? home : ".") + "/.kvgo_cli_history";
  using_history();
  read_history(history.c_str());
  int rc = 0;
  for (;;) {
    char* line = readline("kvgo> ");
    if (line == nullptr) break;  // EOF
    std::string text(line);
    free(line);
    std::vector<std::string> words;
    if (!kvgo::cli::SplitWords(text, &words)) {
      std::cerr << "unterminated quote\n";
      continue;
    }
    if (words.empty()) continue;
    add_history(text.c_str());
    if (words[0] == "quit" || words[0] == "exit") break;
    std::string error;
    if (!ApplyPromptFlags(&words, &error)) {
      std::cerr << error << "\n";
      continue;
    }
    rc = cli->Run(words, CommandOptions());
  }
  write_history(history.c_str());
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(kvgo::cli::Cli::Usage());
  kvgo::cli::SetFlagsUsage("kvgo-cli " KVGO_VERSION);
  std::vector<std::string> args = kvgo::cli::DashesToUnderscores(argc, argv);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  if (kvgo::cli::PrintHelpIfAsked(args)) return 0;
  if (const std::string bad = kvgo::cli::BadFlag(args); !bad.empty()) {
    std::cerr << "kvgo-cli: " << bad << "\n";
    return 2;
  }
  std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());

  kvgo::client::ClientOptions co;
  co.addr = "127.0.0.1:9100";
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    // Relative paths (TLS files) resolve as the server resolves them.
    auto cfg = kvgo::LoadConfig(path, kvgo::cli::InstallPrefix(argv[0]));
    if (!cfg.ok()) {
      std::cerr << "kvgo-cli: " << cfg.status().message() << "\n";
      return kvgo::cli::kExitUsage;
    }
    co.addr = cfg->bind;
    co.secret = cfg->root_secret;
    co.key_id = cfg->root_key_id;
    co.tls_root_pem = cfg->tls.ca_pem.empty() ? cfg->tls.cert_pem : cfg->tls.ca_pem;
  }
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  if (!env("KVGO_ADDR").empty()) co.addr = env("KVGO_ADDR");
  if (!env("KVGO_SECRET").empty()) co.secret = env("KVGO_SECRET");
  if (!env("KVGO_KEY_ID").empty()) co.key_id = env("KVGO_KEY_ID");
  if (!absl::GetFlag(FLAGS_addr).empty()) co.addr = absl::GetFlag(FLAGS_addr);
  if (!absl::GetFlag(FLAGS_secret).empty()) co.secret = absl::GetFlag(FLAGS_secret);
  if (!absl::GetFlag(FLAGS_key_id).empty()) co.key_id = absl::GetFlag(FLAGS_key_id);
  co.timeout = std::chrono::milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  std::string tls_cert = absl::GetFlag(FLAGS_tls_cert);
  if (tls_cert.empty()) tls_cert = env("KVGO_TLS_CERT");
  if (!tls_cert.empty()) {
    if (!kvgo::client::LoadTlsRoot(tls_cert, &co)) {
      std::cerr << "kvgo-cli: cannot read --tls_cert " << tls_cert << "\n";
      return kvgo::cli::kExitUsage;
    }
  }
  co.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  if (co.secret.empty()) {
    std::cerr << "kvgo-cli: no secret: use --secret, $KVGO_SECRET or --config\n";
    return kvgo::cli::kExitUsage;
  }

  kvgo::cli::Cli cli(std::make_shared<kvgo::client::Client>(co), std::cout, std::cerr);
  g_cli = &cli;
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigaction(SIGINT, &sa, nullptr);
  std::vector<std::string> words(positional.begin() + 1, positional.end());
  if (words.empty()) return Interactive(&cli);
  return cli.Run(words, CommandOptions());
}
