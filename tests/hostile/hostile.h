// Helpers of the hostile-client tests (tests/hostile): what a careless or
// malicious client does that the SDK never would. Each test runs the real
// kvgo-server (ServerProcess / ClusterProcess) and asserts that the server
// refuses cleanly, loses nothing and keeps serving.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "client/client.h"
#include "kvspec.grpc.pb.h"

namespace kvgo::testing {

namespace kv = lynkdb::kvspec::v2;

// A Commit or Query through `c`; a transport error becomes status 0 with
// "rpc: <code> <message>" in the message.
kv::ObjectResult Put(client::Client& c, const std::string& key, const std::string& value);
kv::ObjectResult Send(client::Client& c, const kv::ObjectWriter& w);
kv::ObjectResult Get(client::Client& c, const std::string& key);
kv::ObjectResult Read(client::Client& c, const kv::ObjectReader& r);

// A SysCmd (`method`, `body`) through `c`; a transport error as in Send.
kv::ObjectResult SysCall(client::Client& c, const std::string& method, const std::string& body = "");

// A writer for `key` whose encoded size is exactly `bytes`.
kv::ObjectWriter WriterOfSize(const std::string& key, size_t bytes);

// A stub on its own channel that sends and receives messages of up to 64
// MiB (more than any server takes), signing with key `key_id`/`secret`.
class RawClient {
 public:
  RawClient(const std::string& addr, const std::string& key_id, const std::string& secret);
  // A context with a 10 s deadline and a fresh token.
  std::unique_ptr<grpc::ClientContext> Context() const;
  kv::Public::Stub* stub() { return stub_.get(); }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

 private:
  std::string key_id_, secret_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kv::Public::Stub> stub_;
};

// Peak resident memory of process `pid` in bytes (VmHWM), or -1.
int64_t PeakRssBytes(pid_t pid);

// A TCP connection to 127.0.0.1:`port` (blocking), or -1.
int ConnectLoopback(int port);

// Calls `cond` every 20 ms until it is true or `timeout` ends.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

}  // namespace kvgo::testing

namespace kvgo::testing {

// Just enough HTTP/2 to open gRPC calls on one connection and then never
// read their replies: its receive window is 0, so the server can send
// headers but no data. The server must not keep what it cannot send.
class StallingH2Client {
 public:
  explicit StallingH2Client(int port);  // connects to 127.0.0.1, sends the preface
  ~StallingH2Client();
  bool connected() const { return fd_ >= 0; }
  // Opens a unary call of `path` ("/pkg.Service/Method") with the encoded
  // request `message`, signed with the x-hooto-auth `token`.
  void Call(const std::string& path, const std::string& token, const std::string& message);
  // Reads and drops what the server sends for `d` (answering its SETTINGS
  // and PINGs); returns how many streams the server reset so far.
  int Pump(std::chrono::milliseconds d);

 private:
  void Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload);
  int fd_ = -1;
  uint32_t next_stream_ = 1;
  int resets_ = 0;
  std::string in_;
};

}  // namespace kvgo::testing
