#include "replication/peer_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

namespace kvgo::replication {

namespace {

grpc::Status Denied(const Status& s) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, std::string(s.message()));
}

class MessagesReactor final : public grpc::ServerReadReactor<peer::pb::Message> {
 public:
  MessagesReactor(Replicator* r, StatusOr<consensus::NodeId> from) : r_(r) {
    if (!from.ok()) {
      Finish(Denied(from.status()));
      return;
    }
    from_ = *from;
    StartRead(&msg_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    consensus::Message m = FromProto(msg_);
    if (m.from == from_) {  // a peer speaks only for itself
      r_->NotePeerApplyRules(from_, msg_.apply_rules());
      r_->Receive(std::move(m));
    }
    StartRead(&msg_);
  }
  void OnDone() override { delete this; }

 private:
  Replicator* r_;
  consensus::NodeId from_ = 0;
  peer::pb::Message msg_;
};

class SnapshotReactor final : public grpc::ServerReadReactor<peer::pb::SnapshotChunk> {
 public:
  SnapshotReactor(Replicator* r, StatusOr<consensus::NodeId> from, peer::pb::SnapshotReply* reply)
      : r_(r), reply_(reply) {
    if (!from.ok()) {
      Finish(Denied(from.status()));
      return;
    }
    from_ = *from;
    StartRead(&chunk_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      if (begun_) r_->AbortInstall(generation_);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot stream ended before its last chunk"));
      return;
    }
    Status s;
    if (!begun_) {
      if (chunk_.from() != from_) return Refuse(absl::PermissionDeniedError("snapshot sender id mismatch"));
      auto gen = r_->BeginInstall(chunk_.slot(), from_);
      if (!gen.ok()) return Refuse(gen.status());
      generation_ = *gen;
      begun_ = true;
    }
    s = r_->InstallChunk(generation_, chunk_);
    if (!s.ok()) {
      r_->AbortInstall(generation_);
      return Refuse(s);
    }
    if (chunk_.last()) {
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&chunk_);
  }
  void OnDone() override { delete this; }

 private:
  void Refuse(const Status& s) {
    spdlog::warn("snapshot from node {} refused: {}", from_, std::string(s.message()));
    reply_->set_error(std::string(s.message()));
    Finish(grpc::Status::OK);
  }
  Replicator* r_;
  peer::pb::SnapshotReply* reply_;
  consensus::NodeId from_ = 0;
  bool begun_ = false;
  uint64_t generation_ = 0;
  peer::pb::SnapshotChunk chunk_;
};

}  // namespace

StatusOr<consensus::NodeId> PeerService::Admit(grpc::CallbackServerContext* ctx) {
  auto id = r_->identity().Verify(ctx);
  if (!id.ok()) {
    refused_++;
    const std::string why(id.status().message());
    std::lock_guard lock(log_mu_);
    auto now = std::chrono::steady_clock::now();
    auto& last = last_logged_[why];
    if (last == std::chrono::steady_clock::time_point{} || now - last > std::chrono::minutes(1)) {
      spdlog::warn("peer connection {}", why);
      last = now;
    }
  }
  return id;
}

grpc::ServerReadReactor<peer::pb::Message>* PeerService::Messages(grpc::CallbackServerContext* ctx,
                                                                  peer::pb::StreamEnd*) {
  return new MessagesReactor(r_, Admit(ctx));
}

grpc::ServerReadReactor<peer::pb::SnapshotChunk>* PeerService::InstallSnapshot(grpc::CallbackServerContext* ctx,
                                                                               peer::pb::SnapshotReply* response) {
  return new SnapshotReactor(r_, Admit(ctx), response);
}

grpc::ServerUnaryReactor* PeerService::Forward(grpc::CallbackServerContext* ctx, const storage::pb::Command* request,
                                               peer::pb::ForwardReply* response) {
  auto* reactor = ctx->DefaultReactor();
  if (auto id = Admit(ctx); !id.ok()) {
    reactor->Finish(Denied(id.status()));
    return reactor;
  }
  r_->SubmitForwarded(*request, [reactor, response](peer::pb::ForwardReply reply) {
    *response = std::move(reply);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::ForwardBatch(grpc::CallbackServerContext* ctx,
                                                    const peer::pb::ForwardBatchRequest* request,
                                                    peer::pb::ForwardBatchReply* response) {
  auto* reactor = ctx->DefaultReactor();
  if (auto id = Admit(ctx); !id.ok()) {
    reactor->Finish(Denied(id.status()));
    return reactor;
  }
  const int n = request->commands_size();
  if (n == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Sized up front: each command's answer fills its own element, from
  // whichever thread answers it; the last one finishes the call.
  for (int i = 0; i < n; i++) response->add_replies();
  auto remaining = std::make_shared<std::atomic<int>>(n);
  for (int i = 0; i < n; i++) {
    r_->SubmitForwarded(request->commands(i), [reactor, response, remaining, i](peer::pb::ForwardReply reply) {
      *response->mutable_replies(i) = std::move(reply);
      if (remaining->fetch_sub(1, std::memory_order_acq_rel) == 1) reactor->Finish(grpc::Status::OK);
    });
  }
  return reactor;
}

grpc::ServerUnaryReactor* PeerService::ReadIndex(grpc::CallbackServerContext* ctx, const peer::pb::ReadIndexRequest*,
                                                 peer::pb::ReadIndexReply* response) {
  auto* reactor = ctx->DefaultReactor();
  if (auto id = Admit(ctx); !id.ok()) {
    reactor->Finish(Denied(id.status()));
    return reactor;
  }
  r_->LeaderReadIndex([reactor, response](peer::pb::ReadIndexReply reply) {
    *response = std::move(reply);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace kvgo::replication
