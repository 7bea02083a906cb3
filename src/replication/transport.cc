#include "replication/transport.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auth/token.h"
#include "common/clock.h"
#include "common/limits.h"

namespace kvgo::replication {

namespace {

constexpr size_t kMaxQueued = 8192;
constexpr char kNodeHeader[] = "x-kvgo-node";
constexpr char kClusterHeader[] = "x-kvgo-cluster";

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

void PeerIdentity::Sign(grpc::ClientContext* ctx) const {
  std::lock_guard lock(mu_);
  ctx->AddMetadata(kNodeHeader, std::to_string(self_.id));
  ctx->AddMetadata(kClusterHeader, absl::StrCat(absl::Hex(cluster_id_)));
  ctx->AddMetadata(auth::kTokenHeader, auth::SignToken(self_.key_id, self_.secret, SystemClock()->NowMs()));
}

StatusOr<consensus::NodeId> PeerIdentity::Verify(const grpc::CallbackServerContext* ctx) const {
  uint32_t id = 0;
  const bool has_id = absl::SimpleAtoi(Meta(ctx, kNodeHeader), &id);
  std::string secret;
  std::string addr;  // the sender's master address, if it is one of ours
  {
    std::lock_guard lock(mu_);
    for (const auto& m : members_) {
      if (has_id && m.id == id && id != self_.id) {
        addr = m.addr;
        secret = m.secret;
      }
    }
  }
  // A refusal names both nodes by their master addresses (the TCP source
  // of a connection is no name on one host), from neither node's point of
  // view: the refused node logs it too ("lost stream to peer ..."). Built
  // only when refusing: this runs on every peer call.
  const auto who = [&] {
    return !addr.empty() ? addr : has_id ? "node id " + std::to_string(id) : std::string("a node that sent no node id");
  };
  const auto refuse = [&](const std::string& why) {
    return absl::PermissionDeniedError("refused by " + self_.addr + ": " + why + " (connection from " + ctx->peer() +
                                       ")");
  };
  if (require_client_cert_) {
    auto auth = ctx->auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return refuse(who() +
                    " presented no client certificate signed by the server.auth_tls_cert CA (mutual TLS between "
                    "masters)");
    }
  }
  if (Meta(ctx, kClusterHeader) != absl::StrCat(absl::Hex(cluster_id_))) {
    return refuse(who() + " belongs to another cluster (cluster id " + Meta(ctx, kClusterHeader) + ", " + self_.addr +
                  "'s " + absl::StrCat(absl::Hex(cluster_id_)) + ": the two nodes' [[cluster.masters]] lists differ)");
  }
  if (!has_id) return refuse(who());
  if (secret.empty()) return refuse(who() + " is not in " + self_.addr + "'s [[cluster.masters]]");
  auth::ParsedToken token;
  if (Status s = auth::ParseToken(Meta(ctx, auth::kTokenHeader), SystemClock()->NowMs(), &token); !s.ok()) {
    return refuse(who() + "'s token: " + std::string(s.message()));
  }
  if (!auth::VerifySignature(token, secret)) {
    return refuse("wrong secret: " + who() + " signs with another secret than the auth_secret_key " + self_.addr +
                  "'s [[cluster.masters]] lists for it");
  }
  return id;
}

void PeerIdentity::SetSecrets(const std::vector<Member>& members, const std::string& own_secret) {
  std::lock_guard lock(mu_);
  for (auto& m : members_) {
    for (const auto& n : members) {
      if (n.id == m.id) m.secret = n.secret;
    }
  }
  self_.secret = own_secret;
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
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void PeerClient::Send(consensus::Message m) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= kMaxQueued) {
      dropped_++;
      return;
    }
    queue_.push_back(std::move(m));
  }
  cv_.notify_one();
}

void PeerClient::RunSender() {
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    // Wait for something to send before opening a stream.
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
    }
    grpc::ClientContext ctx;
    identity_->Sign(&ctx);
    {
      std::lock_guard lock(mu_);
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
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
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
      std::lock_guard lock(mu_);
      stream_ctx_ = nullptr;
      if (stopping_) return;
      // What was queued while the stream was failing is stale by now.
      dropped_ += queue_.size();
      queue_.clear();
    }
    if (connected_.exchange(false) || st.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
      spdlog::warn("lost stream to peer {}: {}", peer_.addr, st.error_message());
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff, [&] { return stopping_; });
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
void StartUnary(const PeerIdentity* identity, std::chrono::milliseconds timeout, Request req,
                std::function<void(grpc::Status, const Reply&)> done, Invoke invoke) {
  auto* call = new UnaryCall<Request, Reply>;
  identity->Sign(&call->ctx);
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
      identity_, timeout, cmd, std::move(done),
      [this](auto* ctx, auto* req, auto* reply, auto cb) { stub_->async()->Forward(ctx, req, reply, std::move(cb)); });
}

void PeerClient::ForwardBatch(peer::pb::ForwardBatchRequest req, std::chrono::milliseconds timeout,
                              ForwardBatchDone done) {
  StartUnary<peer::pb::ForwardBatchRequest, peer::pb::ForwardBatchReply>(
      identity_, timeout, std::move(req), std::move(done), [this](auto* ctx, auto* req, auto* reply, auto cb) {
        stub_->async()->ForwardBatch(ctx, req, reply, std::move(cb));
      });
}

void PeerClient::ReadIndex(std::chrono::milliseconds timeout, ReadIndexDone done) {
  StartUnary<peer::pb::ReadIndexRequest, peer::pb::ReadIndexReply>(
      identity_, timeout, peer::pb::ReadIndexRequest(), std::move(done),
      [this](auto* ctx, auto* req, auto* reply, auto cb) {
        stub_->async()->ReadIndex(ctx, req, reply, std::move(cb));
      });
}

}  // namespace kvgo::replication
