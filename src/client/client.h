// Client: a small C++ client of the kvgo Public API that signs every call
// with an x-hooto-auth token, as the Go SDK does. Used by kvgo-cli,
// kvgo-bench and the integration tests.
//
// Thread-safe: one Client may be shared by many threads (gRPC channels and
// stubs are thread-safe).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "kvspec.grpc.pb.h"

namespace kvgo::client {

struct ClientOptions {
  std::string addr = "127.0.0.1:9100";
  std::string key_id = "00000000";
  std::string secret;
  std::chrono::milliseconds timeout{10000};
  // TLS (the server's [server.auth_tls_cert]): the PEM certificate to trust,
  // the server's own (as the kvgo SDK's server_cert_data) or its CA. Empty =
  // plaintext. The server's certificate must name the host of `addr` (a
  // DNS or IP SAN) unless `tls_server_name` says which name to check.
  std::string tls_root_pem;
  std::string tls_server_name;
  // Less client CPU per call, for kvgo-bench (which shares its machine
  // with the server it measures): no gRPC retry filter (calls are not
  // retried transparently), no BDP pings, and gRPC's minimal channel
  // stack (deadlines are still checked).
  bool lean_channel = false;
};

class Client {
 public:
  explicit Client(ClientOptions options);

  // Each returns the gRPC status; in-band results are in *out. Transport
  // errors come back as non-OK grpc::Status.
  grpc::Status Query(const lynkdb::kvspec::v2::ObjectReader& req, lynkdb::kvspec::v2::ObjectResult* out);
  grpc::Status Commit(const lynkdb::kvspec::v2::ObjectWriter& req, lynkdb::kvspec::v2::ObjectResult* out);
  grpc::Status BatchCommit(const lynkdb::kvspec::v2::BatchRequest& req, lynkdb::kvspec::v2::BatchResult* out);
  grpc::Status SysCmd(const lynkdb::kvspec::v2::SysCmdRequest& req, lynkdb::kvspec::v2::ObjectResult* out);

  // Waits until the server answers (any in-band result) or `timeout` ends.
  bool WaitReady(std::chrono::milliseconds timeout);

  const ClientOptions& options() const { return options_; }

  // For callers that use the stub directly (e.g. its callback API): sets
  // the deadline and a freshly signed token on `ctx`.
  void PrepareContext(grpc::ClientContext* ctx) const { Prepare(ctx); }
  lynkdb::kvspec::v2::Public::Stub* stub() const { return stub_.get(); }

 private:
  void Prepare(grpc::ClientContext* ctx) const;
  std::shared_ptr<grpc::ChannelCredentials> Credentials() const;

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<lynkdb::kvspec::v2::Public::Stub> stub_;
};

// Reads the PEM file `path` (the server's certificate or its CA) into
// options->tls_root_pem; false if it cannot be read or is empty.
bool LoadTlsRoot(const std::string& path, ClientOptions* options);

// Builders mirroring the Go SDK's request shapes.
// NewWriter(key, value): value is stored as the SDK stores strings: a 0x00
// type byte then the bytes; data.check is filled.
lynkdb::kvspec::v2::ObjectWriter NewWriter(const std::string& key, const std::string& value);
lynkdb::kvspec::v2::ObjectReader NewKeyReader(const std::string& key);
lynkdb::kvspec::v2::ObjectReader NewRangeReader(const std::string& offset, const std::string& cutset,
                                                int64_t limit = 10);
// The string an SDK-encoded value holds (strips the 0x00 type byte).
std::string ValueString(const lynkdb::kvspec::v2::ObjectItem& item);

}  // namespace kvgo::client
