// Listener: the gRPC port's listening socket, owned by the server instead
// of by gRPC. One thread accepts each connection and hands it to gRPC
// (grpc::experimental::ExternalConnectionAcceptor: plaintext or TLS, the
// same handshake as gRPC's own listener), so that
//   - at most max_connections connections are open at once (the masters'
//     addresses get kMasterConnections more, so that a flood of clients
//     cannot cut the cluster's own links), and one over the limit is closed
//     at once: the open-file limit is never reached through the port;
//   - running out of file descriptors never stops the port: gRPC 1.51's own
//     listener stops accepting for good after one failed accept4 (EMFILE),
//     this one closes the connection it cannot serve and goes on.
// gRPC tells nobody when it closes a connection: the listener notices when
// the descriptor it handed over no longer is that socket (fstat: another
// inode, or none), checked at most every 100 ms when at the limit and once
// a second otherwise.
//
// Thread-safe: Start and Stop from one thread; open_connections from any.
#pragma once

#include <grpcpp/server_builder.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/log_limiter.h"
#include "common/status.h"
#include "metrics/metrics.h"

namespace kvgo::server {

class Listener {
 public:
  // Connections beyond max_connections taken from the masters' addresses.
  static constexpr size_t kMasterConnections = 64;

  // Binds every address `addr` (host:port) resolves to. Fails if none can
  // be bound (taken, or not an address of this host).
  static StatusOr<std::unique_ptr<Listener>> Bind(const std::string& addr);
  ~Listener();  // Stop()s, closes the listening sockets

  int port() const { return port_; }

  // Starts accepting into `acceptor`. `master_ips`: the masters' addresses
  // (numeric, as accept reports them). REQUIRES: acceptor's server started;
  // acceptor and metrics (may be null) outlive Stop().
  void Start(grpc::experimental::ExternalConnectionAcceptor* acceptor, size_t max_connections,
             std::set<std::string> master_ips, metrics::Metrics* metrics);
  // Stops accepting and joins the thread; connections already handed over
  // stay gRPC's. Idempotent.
  void Stop();

  size_t open_connections() const { return open_.load(); }

 private:
  Listener() = default;
  void Run();
  void Accept(int listen_fd);
  // Forgets the connections gRPC has closed.
  void Rescan();
  // Logs a refused connection, at most once a minute per kind.
  void LogRefusal(const std::string& kind, const std::string& why);

  std::vector<int> fds_;  // listening sockets
  int port_ = 0;
  int stop_fd_ = -1;  // eventfd: wakes the accept thread to stop
  int epoll_fd_ = -1;
  int reserve_fd_ = -1;  // given up to accept (and close) a connection on EMFILE

  grpc::experimental::ExternalConnectionAcceptor* acceptor_ = nullptr;
  size_t max_connections_ = 0;
  std::set<std::string> master_ips_;
  metrics::Metrics* metrics_ = nullptr;
  // Accept thread only: the descriptors handed to gRPC, and their inodes.
  std::map<int, ino_t> handed_;
  std::chrono::steady_clock::time_point last_scan_{};
  LogLimiter log_limiter_;
  std::atomic<size_t> open_{0};
  std::thread thread_;
};

}  // namespace kvgo::server
