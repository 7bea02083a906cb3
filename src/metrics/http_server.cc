#include "metrics/http_server.h"

#include <CivetServer.h>

namespace kvgo::metrics {

namespace {

constexpr int kThreads = 32;
constexpr int kRequestTimeoutMs = 1000;

}  // namespace

class HttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(std::function<std::pair<int, std::string>()> body) : body_(std::move(body)) {}
  bool handleGet(CivetServer*, struct mg_connection* conn) override {
    auto [code, text] = body_();
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: %zu\r\nConnection: close\r\n\r\n",
              code, code == 200 ? "OK" : "Service Unavailable", text.size());
    mg_write(conn, text.data(), text.size());
    return true;
  }

 private:
  std::function<std::pair<int, std::string>()> body_;
};

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& host, int port, const Metrics* metrics,
                                                        std::function<bool()> ready) {
  std::unique_ptr<HttpServer> s(new HttpServer());
  const std::string listen =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  // A thread per connection: so that slow or half-sent requests cannot
  // starve /livez and /readyz (a restart by a liveness probe), there are
  // threads to spare and each request has kRequestTimeoutMs to arrive and
  // be sent; connections beyond the threads wait in the queue.
  std::vector<std::string> options = {"listening_ports",    listen,
                                      "num_threads",        std::to_string(kThreads),
                                      "request_timeout_ms", std::to_string(kRequestTimeoutMs),
                                      "connection_queue",   "64",
                                      "enable_keep_alive",  "no"};
  try {
    s->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot serve HTTP on " + listen + ": " + e.what());
  }
  s->handlers_.push_back(std::make_unique<Handler>([metrics] { return std::make_pair(200, metrics->Serialize()); }));
  s->handlers_.push_back(std::make_unique<Handler>([] { return std::make_pair(200, std::string("ok\n")); }));
  s->handlers_.push_back(std::make_unique<Handler>([ready = std::move(ready)] {
    return ready() ? std::make_pair(200, std::string("ready\n")) : std::make_pair(503, std::string("not ready\n"));
  }));
  s->server_->addHandler("/metrics", s->handlers_[0].get());
  s->server_->addHandler("/livez", s->handlers_[1].get());
  s->server_->addHandler("/readyz", s->handlers_[2].get());
  auto ports = s->server_->getListeningPorts();
  s->port_ = ports.empty() ? port : ports[0];
  return s;
}

HttpServer::~HttpServer() {
  if (server_) server_->close();
}

}  // namespace kvgo::metrics
