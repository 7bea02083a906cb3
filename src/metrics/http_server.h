// HttpServer: the operations endpoint on [server] http_port (civetweb):
//   /metrics  Prometheus text format
//   /livez    200 while the process runs
//   /readyz   200 when the node serves requests, else 503
// Slow clients cannot starve it for long: 32 threads, and a request that
// does not arrive (or whose answer is not taken) within 1 s is dropped.
//
// Thread-safe; the handlers run on civetweb's threads.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "metrics/metrics.h"

class CivetServer;

namespace kvgo::metrics {

class HttpServer {
 public:
  // Listens on host:port ("127.0.0.1", 9101). `ready` answers /readyz.
  // REQUIRES: metrics outlives the server.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& host, int port, const Metrics* metrics,
                                                     std::function<bool()> ready);
  ~HttpServer();
  int port() const { return port_; }

 private:
  HttpServer() = default;
  class Handler;
  std::unique_ptr<CivetServer> server_;
  std::vector<std::unique_ptr<Handler>> handlers_;
  int port_ = 0;
};

}  // namespace kvgo::metrics
