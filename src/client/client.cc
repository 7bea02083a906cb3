#include "client/client.h"

#include <fstream>
#include <sstream>
#include <thread>

#include "auth/token.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/kvspec.h"

namespace kvgo::client {

namespace kv = lynkdb::kvspec::v2;

Client::Client(ClientOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kvspec::kMaxMessageBytes);
  args.SetMaxSendMessageSize(kvspec::kMaxMessageBytes);
  // Every Client owns its connection: no reconnect backoff shared through
  // gRPC's global subchannel pool.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after a server restart (gRPC's default backoff grows
  // to minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (options_.lean_channel) {
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
    args.SetInt(GRPC_ARG_ENABLE_DEADLINE_CHECKS, 1);  // the minimal stack would drop them
  }
  if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
  channel_ = grpc::CreateCustomChannel(options_.addr, Credentials(), args);
  stub_ = kv::Public::NewStub(channel_);
}

bool LoadTlsRoot(const std::string& path, ClientOptions* options) {
  std::ifstream in(path);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in || pem.str().empty()) return false;
  options->tls_root_pem = pem.str();
  return true;
}

std::shared_ptr<grpc::ChannelCredentials> Client::Credentials() const {
  if (options_.tls_root_pem.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = options_.tls_root_pem;
  return grpc::SslCredentials(opts);
}

void Client::Prepare(grpc::ClientContext* ctx) const {
  ctx->set_deadline(std::chrono::system_clock::now() + options_.timeout);
  ctx->AddMetadata(auth::kTokenHeader, auth::SignToken(options_.key_id, options_.secret, SystemClock()->NowMs()));
}

grpc::Status Client::Query(const kv::ObjectReader& req, kv::ObjectResult* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return stub_->Query(&ctx, req, out);
}

grpc::Status Client::Commit(const kv::ObjectWriter& req, kv::ObjectResult* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return stub_->Commit(&ctx, req, out);
}

grpc::Status Client::BatchCommit(const kv::BatchRequest& req, kv::BatchResult* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return stub_->BatchCommit(&ctx, req, out);
}

grpc::Status Client::SysCmd(const kv::SysCmdRequest& req, kv::ObjectResult* out) {
  grpc::ClientContext ctx;
  Prepare(&ctx);
  return stub_->SysCmd(&ctx, req, out);
}

bool Client::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // A fresh channel per probe: a refused connection leaves the channel in
    // reconnect backoff, which would delay the probe after the server is up.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (!options_.tls_server_name.empty()) args.SetSslTargetNameOverride(options_.tls_server_name);
    auto channel = grpc::CreateCustomChannel(options_.addr, Credentials(), args);
    auto stub = kv::Public::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    ctx.AddMetadata(auth::kTokenHeader, auth::SignToken(options_.key_id, options_.secret, SystemClock()->NowMs()));
    kv::ObjectResult out;
    if (stub->Query(&ctx, NewKeyReader("kvgo-ready-probe"), &out).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

kv::ObjectWriter NewWriter(const std::string& key, const std::string& value) {
  kv::ObjectWriter w;
  w.mutable_meta()->set_key(key);
  std::string v(1, '\0');
  v += value;
  w.mutable_data()->set_check(ValueCheck(v));
  w.mutable_data()->set_value(std::move(v));
  return w;
}

kv::ObjectReader NewKeyReader(const std::string& key) {
  kv::ObjectReader r;
  r.set_mode(kvspec::kReadModeKey);
  r.add_keys(key);
  return r;
}

kv::ObjectReader NewRangeReader(const std::string& offset, const std::string& cutset, int64_t limit) {
  kv::ObjectReader r;
  r.set_mode(kvspec::kReadModeKeyRange);
  r.set_key_offset(offset);
  r.set_key_cutset(cutset);
  r.set_limit_num(limit);
  return r;
}

std::string ValueString(const kv::ObjectItem& item) {
  const std::string& v = item.data().value();
  if (!v.empty() && v[0] == '\0') return v.substr(1);
  return v;
}

}  // namespace kvgo::client
