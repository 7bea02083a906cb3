#include "server_process.h"

#include <civetweb.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace kvgo::testing {

std::string ServerBinary() {
  // KVGO_SERVER_BIN in the environment: test another build (a long nemesis
  // run on a copy while the tree is rebuilt).
  const char* env = std::getenv("KVGO_SERVER_BIN");
  return env != nullptr && *env != '\0' ? env : KVGO_SERVER_BIN;
}

namespace {

// The directory of ExecutableForOtherUsers' links, removed at exit.
std::string& OtherUsersBinDir() {
  static std::string dir;
  return dir;
}

// A node run as another user cannot exec a binary in a directory only root
// may enter (a checkout under /root, or in a `mktemp -d` directory): such
// nodes run a hard link (or, across file systems, a copy) of it in a
// directory of this process that everyone may enter.
std::string ExecutableForOtherUsers(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::string> made;
  std::lock_guard lock(mu);
  if (auto it = made.find(path); it != made.end()) return it->second;
  namespace fs = std::filesystem;
  if (OtherUsersBinDir().empty()) {
    OtherUsersBinDir() = (fs::temp_directory_path() / ("kvgo-it-bin-" + std::to_string(getpid()))).string();
    fs::remove_all(OtherUsersBinDir());
    fs::create_directories(OtherUsersBinDir());
    fs::permissions(OtherUsersBinDir(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                            fs::perms::others_read | fs::perms::others_exec);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(OtherUsersBinDir(), ec);
    });
  }
  const std::string target =
      OtherUsersBinDir() + "/" + std::to_string(made.size()) + "-" + fs::path(path).filename().string();
  std::error_code ec;
  fs::create_hard_link(path, target, ec);
  if (ec) {
    fs::copy_file(path, target, fs::copy_options::overwrite_existing);
    fs::permissions(target, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  }
  return made[path] = target;
}

}  // namespace

std::string FailpointServerBinary() {
  const char* env = std::getenv("KVGO_FAILPOINT_SERVER_BIN");
  return env != nullptr && *env != '\0' ? env : KVGO_FAILPOINT_SERVER_BIN;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) std::abort();
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// A free port that is not `taken`: FreePort releases the port it found, so
// a cluster's shared gRPC port (probed on 127.0.0.1, bound on 127.0.0.N)
// can come back as a node's HTTP port, and the node then cannot start (seen
// once in a nemesis run).
int FreePortExcept(int taken) {
  for (;;) {
    const int p = FreePort();
    if (p != taken) return p;
  }
}

std::pair<int, std::string> HttpGet(int port, const std::string& path) { return HttpGet("127.0.0.1", port, path); }

double MetricValue(const std::string& page, const std::string& name) {
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::pair<int, std::string> HttpGet(const std::string& host, int port, const std::string& path) {
  static const bool init = [] {
    mg_init_library(0);
    return true;
  }();
  (void)init;
  char err[256] = {0};
  mg_connection* conn = mg_download(host.c_str(), port, 0, err, sizeof(err), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
                                    path.c_str(), host.c_str());
  if (conn == nullptr) return {0, err};
  const mg_response_info* info = mg_get_response_info(conn);
  const int code = info ? info->status_code : 0;
  std::string body;
  char buf[8192];
  int n;
  while ((n = mg_read(conn, buf, sizeof(buf))) > 0) body.append(buf, n);
  mg_close_connection(conn);
  return {code, body};
}

ServerProcess::ServerProcess(const std::string& name) : ServerProcess(name, "127.0.0.1", FreePort(), kSecret) {}

ServerProcess::ServerProcess(const std::string& name, const std::string& host, int port, const std::string& secret)
    : host_(host), secret_(secret), port_(port), http_port_(FreePortExcept(port)) {
  prefix_ = (std::filesystem::temp_directory_path() /
             ("kvgo-it-" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(port_)))
                .string();
  std::filesystem::remove_all(prefix_);
  std::filesystem::create_directories(prefix_ + "/etc");
  WriteConfig(DefaultConfig());
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (std::getenv("KVGO_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(prefix_);
}

std::string ServerProcess::DefaultConfig() const {
  return "[storage]\ndata_directory = \"" + prefix_ + "/var/data\"\n\n[server]\nbind = \"" + addr() +
         "\"\nauth_secret_key = \"" + secret_ + "\"\nhttp_port = " + std::to_string(http_port_) + "\n";
}

void ServerProcess::WriteConfig(const std::string& text) const {
  std::ofstream(prefix_ + "/etc/kvgo-server.conf") << text;
}

void ServerProcess::UseFailpoints() {
  failpoints_ = true;
  ArmFailpoints("");
}

void ServerProcess::ArmFailpoints(const std::string& spec) const {
  // Written whole, then renamed: the server never reads half a spec.
  const std::string path = prefix_ + "/failpoints";
  std::ofstream(path + ".new") << spec << "\n";
  std::filesystem::rename(path + ".new", path);
}

pid_t ServerProcess::Start(const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {failpoints_ ? FailpointServerBinary() : ServerBinary(), "--config",
                                   prefix_ + "/etc/kvgo-server.conf"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return StartArgv(argv);
}

void ServerProcess::RunAs(uid_t uid) { uid_ = uid; }

pid_t ServerProcess::StartArgv(const std::vector<std::string>& argv) {
  // One process at a time: one still running (a test that expected it to
  // exit, on a server that did not) is stopped first, never leaked.
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string log = prefix_ + "/server.log";
  if (uid_ != 0) {
    // Everything under the prefix (data, logs) belongs to the node's user.
    if (lchown(prefix_.c_str(), uid_, uid_) != 0) std::perror("lchown");
    std::error_code ec;  // files may come and go meanwhile (a stopped node's LOG rotation)
    for (auto it = std::filesystem::recursive_directory_iterator(prefix_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (lchown(it->path().c_str(), uid_, uid_) != 0) std::perror("lchown");
    }
  }
  // Everything the child needs is made before fork(): between fork and
  // exec a child of a threaded process may only make async-signal-safe
  // calls (no malloc).
  const std::string exe = uid_ != 0 ? ExecutableForOtherUsers(argv.at(0)) : argv.at(0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args[0] = const_cast<char*>(exe.c_str());
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; e++) {
    if (!failpoints_ || std::string(*e).rfind("KVGO_FAILPOINTS_FILE=", 0) != 0) env_strings.push_back(*e);
  }
  if (failpoints_) env_strings.push_back("KVGO_FAILPOINTS_FILE=" + prefix_ + "/failpoints");
  env_strings.insert(env_strings.end(), extra_env_.begin(), extra_env_.end());
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (uid_ != 0 && (setgroups(0, nullptr) != 0 || setgid(uid_) != 0 || setuid(uid_) != 0)) _exit(126);
    execve(args[0], args.data(), env.data());
    static const char kExecFailed[] = "test harness: cannot exec the server binary\n";
    if (write(2, kExecFailed, sizeof(kExecFailed) - 1) < 0) _exit(127);
    _exit(127);
  }
  pid_ = pid;
  return pid;
}

bool ServerProcess::WaitReady(std::chrono::milliseconds timeout) {
  auto c = NewClient();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited
    }
    if (c->WaitReady(std::chrono::milliseconds(200))) return true;
  }
  return false;
}

int ServerProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

void ServerProcess::Signal(int sig) const {
  if (pid_ > 0) kill(pid_, sig);
}

int ServerProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int rc = WaitExit(timeout);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  return rc;
}

std::unique_ptr<client::Client> ServerProcess::NewClient(const std::string& secret) const {
  client::ClientOptions o;
  o.addr = addr();
  o.secret = secret.empty() ? secret_ : secret;
  o.tls_root_pem = tls_root_pem_;
  return std::make_unique<client::Client>(o);
}

std::string ServerProcess::Log() const {
  std::ifstream in(prefix_ + "/server.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kvgo::testing
