#include "replication/transport.h"

#include <absl/synchronization/mutex.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/limits.h"
#include "replication/peer_token.h"

namespace kvgo::replication {

namespace {

constexpr size_t kMaxQueued = 8192;
constexpr char kNodeHeader[] = "x-kvgo-node";
constexpr char kClusterHeader[] = "x-kvgo-cluster";
constexpr char kAuthHeader[] = "x-kvgo-peer-auth";

std::string Meta(const grpc::CallbackServerContext* ctx, const char* key) {
  const auto& md = ctx->client_metadata();
  auto it = md.find(key);
  return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

}  // namespace

consensus::NodeId NodeIdOf(const std::string& addr) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(addr.data()), addr.size(), d);
  consensus::NodeId id = (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | d[3];
  return id == 0 ? 1 : id;
}

uint64_t ClusterIdOf(std::vector<std::string> addrs) {
  std::sort(addrs.begin(), addrs.end());
  std::string joined;
  for (const auto& a : addrs) joined += a + "\n";
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(), d);
  uint64_t id = 0;
  for (int i = 0; i < 8; i++) id = (id << 8) | d[i];
  return id;
}

std::string PeerKey(const Config& config) {
  std::string material;
  if (!config.peer_secret.empty()) {
    material = std::string("kvgo peer key v1: peer_secret") + '\0' + config.peer_secret;
  } else {
    // Each node signs as its [server] auth_secret_key (as the seed's
    // config has it, equal to its own masters entry): a node whose own
    // secret differs from what the others list for it gets another key.
    std::vector<std::pair<std::string, std::string>> masters;
    for (const auto& m : config.masters)
      masters.emplace_back(m.addr, m.addr == config.bind ? config.root_secret : m.secret);
    std::sort(masters.begin(), masters.end());
    material = std::string("kvgo peer key v1: masters") + '\0';
    for (const auto& [addr, secret] : masters) material += addr + '\0' + secret + '\0';
  }
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), d);
  OPENSSL_cleanse(material.data(), material.size());
  return std::string(reinterpret_cast<const char*>(d), sizeof(d));
}

const char* PeerRefusalName(PeerRefusal r) {
  switch (r) {
    case PeerRefusal::kNoClientCert:
      return "no_client_cert";
    case PeerRefusal::kOtherCluster:
      return "other_cluster";
    case PeerRefusal::kNotMember:
      return "not_member";
    case PeerRefusal::kBadToken:
      return "bad_token";
    case PeerRefusal::kExpired:
      return "expired";
    case PeerRefusal::kBadSignature:
      return "bad_signature";
    default:
      return "unknown";
  }
}

void PeerIdentity::Sign(grpc::ClientContext* ctx, std::string_view method) const {
  std::string token;
  {
    absl::MutexLock lock(&mu_);
    token = SignPeerToken(key_, method, self_.id, cluster_id_, SystemClock()->NowMs());
  }
  ctx->AddMetadata(kNodeHeader, std::to_string(self_.id));
  ctx->AddMetadata(kClusterHeader, absl::StrCat(absl::Hex(cluster_id_)));
  ctx->AddMetadata(kAuthHeader, token);
}

std::variant<consensus::NodeId, PeerIdentity::Refused> PeerIdentity::Verify(const grpc::CallbackServerContext* ctx,
                                                                            std::string_view method) const {
  uint32_t id = 0;
  const bool has_id = absl::SimpleAtoi(Meta(ctx, kNodeHeader), &id);
  std::string addr;  // the sender's master address, if it is one of ours
  for (const auto& m : members_) {
    if (has_id && m.id == id && id != self_.id) addr = m.addr;
  }
  // Named by master address (the TCP source of a connection is no name on
  // one host), from neither node's point of view: the refused node logs
  // its side too ("lost stream to peer ..."). Built only when refusing.
  const auto refuse = [&](PeerRefusal reason, const std::string& why) -> Refused {
    const std::string who = !addr.empty() ? addr : "a caller (" + ctx->peer() + ")";
    return Refused{reason,
                   "peer call " + std::string(method) + " from " + who + " refused by " + self_.addr + ": " + why};
  };
  if (require_client_cert_) {
    auto auth = ctx->auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return refuse(PeerRefusal::kNoClientCert,
                    "no client certificate signed by the server.auth_tls_cert CA (mutual TLS between masters)");
    }
  }
  if (Meta(ctx, kClusterHeader) != absl::StrCat(absl::Hex(cluster_id_))) {
    return refuse(PeerRefusal::kOtherCluster,
                  "it belongs to another cluster (its [[cluster.masters]] list differs from this node's)");
  }
  if (addr.empty()) return refuse(PeerRefusal::kNotMember, "not in this node's [[cluster.masters]]");
  Status s;
  {
    absl::MutexLock lock(&mu_);
    s = VerifyPeerToken(Meta(ctx, kAuthHeader), key_, method, id, cluster_id_, SystemClock()->NowMs());
  }
  if (absl::IsInvalidArgument(s)) return refuse(PeerRefusal::kBadToken, std::string(s.message()));
  if (absl::IsOutOfRange(s)) return refuse(PeerRefusal::kExpired, std::string(s.message()));
  if (!s.ok()) {
    return refuse(PeerRefusal::kBadSignature,
                  "wrong peer key: " + addr +
                      " signs with a key made from other secrets (the masters' auth_secret_key, or [cluster] "
                      "peer_secret, differ between its config and this node's)");
  }
  return id;
}

void PeerIdentity::SetKey(std::string peer_key) {
  absl::MutexLock lock(&mu_);
  OPENSSL_cleanse(key_.data(), key_.size());
  key_ = std::move(peer_key);
}

std::shared_ptr<grpc::ChannelCredentials> PeerCredentials(const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = tls.ca_pem;
  opts.pem_private_key = tls.key_pem;
  opts.pem_cert_chain = tls.cert_pem;
  return grpc::SslCredentials(opts);
}

PeerClient::PeerClient(Member peer, const PeerIdentity* identity, std::shared_ptr<grpc::ChannelCredentials> creds,
                       uint32_t apply_rules)
    : peer_(std::move(peer)), identity_(identity), apply_rules_(apply_rules) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(limits::kMaxPeerMessageBytes);
  args.SetMaxSendMessageSize(limits::kMaxPeerMessageBytes);
  channel_ = grpc::CreateCustomChannel(peer_.addr, creds, args);
  stub_ = peer::pb::Peer::NewStub(channel_);
  channel_->GetState(true);  // connect now: an election needs no connection set-up
  sender_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-peer-send");
    RunSender();
  });
}

PeerClient::~PeerClient() { Stop(); }

void PeerClient::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  cv_.SignalAll();
  if (sender_.joinable()) sender_.join();
}

void PeerClient::Send(consensus::Message m) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (queue_.size() >= kMaxQueued) {
      dropped_++;
      return;
    }
    queue_.push_back(std::move(m));
  }
  cv_.Signal();
}

void PeerClient::RunSender() {
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    // Wait for something to send before opening a stream.
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
      if (stopping_) return;
    }
    grpc::ClientContext ctx;
    identity_->Sign(&ctx, "Messages");
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stream_ctx_ = &ctx;
    }
    peer::pb::StreamEnd end;
    auto writer = stub_->Messages(&ctx, &end);
    bool ok = true;
    std::vector<consensus::Message> batch;
    while (ok) {
      batch.clear();
      {
        absl::MutexLock lock(&mu_);
        while (!stopping_ && queue_.empty()) cv_.Wait(&mu_);
        if (stopping_) break;
        while (!queue_.empty() && batch.size() < 64) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      for (size_t i = 0; i < batch.size() && ok; i++) {
        grpc::WriteOptions opts;
        if (i + 1 < batch.size()) opts.set_buffer_hint();
        peer::pb::Message pm = ToProto(batch[i]);
        pm.set_apply_rules(apply_rules_);
        ok = writer->Write(pm, opts);
      }
      if (ok) {
        refused_ = false;
        if (!connected_.exchange(true)) spdlog::info("connected to peer {}", peer_.addr);
        backoff = std::chrono::milliseconds(50);
      }
    }
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    refused_ =
        st.error_code() == grpc::StatusCode::PERMISSION_DENIED || st.error_code() == grpc::StatusCode::UNAUTHENTICATED;
    {
      absl::MutexLock lock(&mu_);
      stream_ctx_ = nullptr;
      if (stopping_) return;
      // What was queued while the stream was failing is stale by now.
      dropped_ += queue_.size();
      queue_.clear();
    }
    if (connected_.exchange(false) || st.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      spdlog::warn("lost stream to peer {}: {}", peer_.addr, st.error_message());
    }
    absl::MutexLock lock(&mu_);
    const absl::Time until = absl::Now() + absl::FromChrono(backoff);
    while (!stopping_ && !cv_.WaitWithDeadline(&mu_, until)) {
    }
    if (stopping_) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

namespace {

// One asynchronous unary call: its context, request and reply live until
// the callback ran.
template <typename Request, typename Reply>
struct UnaryCall {
  grpc::ClientContext ctx;
  Request req;
  Reply reply;
  std::function<void(grpc::Status, const Reply&)> done;
};

template <typename Request, typename Reply, typename Invoke>
void StartUnary(const PeerIdentity* identity, std::string_view method, std::chrono::milliseconds timeout, Request req,
                std::function<void(grpc::Status, const Reply&)> done, Invoke invoke) {
  auto* call = new UnaryCall<Request, Reply>;
  identity->Sign(&call->ctx, method);
  call->ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  call->req = std::move(req);
  call->done = std::move(done);
  invoke(&call->ctx, &call->req, &call->reply, [call](grpc::Status s) {
    call->done(s, call->reply);
    delete call;
  });
}

}  // namespace

void PeerClient::Forward(const storage::pb::Command& cmd, std::chrono::milliseconds timeout, ForwardDone done) {
  StartUnary<storage::pb::Command, peer::pb::ForwardReply>(
      identity_, "Forward", timeout, cmd, std::move(done),
      [this](auto* ctx, auto* req, auto* reply, auto cb) { stub_->async()->Forward(ctx, req, reply, std::move(cb)); });
}

void PeerClient::ForwardBatch(peer::pb::ForwardBatchRequest req, std::chrono::milliseconds timeout,
                              ForwardBatchDone done) {
  StartUnary<peer::pb::ForwardBatchRequest, peer::pb::ForwardBatchReply>(
      identity_, "ForwardBatch", timeout, std::move(req), std::move(done),
      [this](auto* ctx, auto* req, auto* reply, auto cb) {
        stub_->async()->ForwardBatch(ctx, req, reply, std::move(cb));
      });
}

void PeerClient::ReadIndex(std::chrono::milliseconds timeout, ReadIndexDone done) {
  StartUnary<peer::pb::ReadIndexRequest, peer::pb::ReadIndexReply>(
      identity_, "ReadIndex", timeout, peer::pb::ReadIndexRequest(), std::move(done),
      [this](auto* ctx, auto* req, auto* reply, auto cb) {
        stub_->async()->ReadIndex(ctx, req, reply, std::move(cb));
      });
}

}  // namespace kvgo::replication
