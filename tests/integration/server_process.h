// ServerProcess: runs the real kvgo-server binary for a test, in a fresh
// temporary prefix (etc/, var/) on 127.0.0.1 and a free port, and always
// stops it by its pid, also when the test fails (destructor: SIGKILL).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"

namespace kvgo::testing {

// Path of the binary under test (set by CMake; $KVGO_SERVER_BIN overrides it).
std::string ServerBinary();
// kvgo-server-failpoints, the same server with failpoints compiled in
// (common/failpoint.h; $KVGO_FAILPOINT_SERVER_BIN overrides it).
std::string FailpointServerBinary();
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
// GET http://127.0.0.1:port/path: the status code (0 if no connection) and
// the body.
std::pair<int, std::string> HttpGet(int port, const std::string& path);
std::pair<int, std::string> HttpGet(const std::string& host, int port, const std::string& path);
// The value of an unlabelled sample in a Prometheus text page, or -1.
double MetricValue(const std::string& page, const std::string& name);

class ServerProcess {
 public:
  static constexpr char kSecret[] = "integration-secret-0123456789";

  explicit ServerProcess(const std::string& name);
  // A server bound to host:port (e.g. 127.0.0.2 for cluster tests) whose
  // clients sign with `secret`.
  ServerProcess(const std::string& name, const std::string& host, int port, const std::string& secret);
  ~ServerProcess();  // kills the process if still running, removes the prefix
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // The default config: data in <prefix>/var/data, bind 127.0.0.1:port,
  // http_port = http_port().
  std::string DefaultConfig() const;
  void WriteConfig(const std::string& text) const;

  // Starts the binary with --config <prefix>/etc/kvgo-server.conf and
  // `extra_args`; output goes to <prefix>/server.log. Returns the pid. A
  // process this object started that still runs is killed first.
  pid_t Start(const std::vector<std::string>& extra_args = {});
  // From the next Start on: run kvgo-server-failpoints, armed by the file
  // <prefix>/failpoints (KVGO_FAILPOINTS_FILE), which ArmFailpoints writes.
  void UseFailpoints();
  // Environment variables ("NAME=value") for the process from the next
  // Start on, on top of this process's; SetEnv({}) removes them.
  void SetEnv(std::vector<std::string> vars) { extra_env_ = std::move(vars); }
  // Replaces the armed failpoints ("" disarms all); the running server
  // picks the change up within 50 ms, at its next hit of any failpoint.
  void ArmFailpoints(const std::string& spec) const;
  // Runs the process as `uid` (group `uid` too) from the next Start on;
  // the prefix is handed over to it. Needs root. (The nemesis tells nodes'
  // traffic apart by uid.)
  void RunAs(uid_t uid);
  // Starts an arbitrary argv (e.g. chroot), output to server.log.
  pid_t StartArgv(const std::vector<std::string>& argv);
  // Waits until the server answers an RPC.
  bool WaitReady(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `sig` and waits up to `timeout` for the exit. Returns the exit
  // code, 128+signal if killed by a signal, or -1 on timeout (then the
  // process is SIGKILLed).
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `sig` without waiting.
  void Signal(int sig) const;
  // Waits for the process to exit by itself (no signal sent).
  int WaitExit(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }

  // From now on NewClient (and WaitReady) speak TLS trusting `pem` (the
  // server's certificate or its CA).
  void SetTlsRoot(const std::string& pem) { tls_root_pem_ = pem; }
  // A client signing with `secret` ("" = this server's own secret).
  std::unique_ptr<client::Client> NewClient(const std::string& secret = "") const;
  std::string Log() const;

  const std::string& prefix() const { return prefix_; }
  std::string addr() const { return host_ + ":" + std::to_string(port_); }
  const std::string& host() const { return host_; }
  const std::string& secret() const { return secret_; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  int http_port() const { return http_port_; }

 private:
  std::string prefix_;
  std::string host_ = "127.0.0.1";
  std::string secret_ = kSecret;
  int port_;
  int http_port_;
  pid_t pid_ = -1;
  uid_t uid_ = 0;  // 0 = as the test
  bool failpoints_ = false;
  std::vector<std::string> extra_env_;
  std::string tls_root_pem_;
};

}  // namespace kvgo::testing
