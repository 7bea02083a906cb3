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

// Resident memory of process `pid` in bytes (VmRSS), or -1.
int64_t RssBytes(pid_t pid);
// Open file descriptors of process `pid`, or -1.
int OpenFds(pid_t pid);

// Calls `cond` every 20 ms until it is true or `timeout` ends.
bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

}  // namespace kvgo::testing
