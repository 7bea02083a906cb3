#include "replication/peer_service.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <utility>

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
      auto gen = r_->BeginInstall(chunk_.slot(), from_, {chunk_.ballot().round(), chunk_.ballot().node()});
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

StatusOr<consensus::NodeId> PeerService::Admit(grpc::CallbackServerContext* ctx, std::string_view method) {
  auto verdict = r_->identity().Verify(ctx, method);
  if (auto* id = std::get_if<consensus::NodeId>(&verdict)) return *id;
  const auto& refused = std::get<PeerIdentity::Refused>(verdict);
  const size_t why = static_cast<size_t>(refused.reason);
  refused_[why]++;
  if (uint64_t suppressed = 0; log_limiter_.Allow(PeerRefusalName(refused.reason), &suppressed)) {
    spdlog::warn("{}{}", refused.detail,
                 suppressed > 0
                     ? " (and " + std::to_string(suppressed) + " more refusals for this reason in the last minute)"
                     : std::string());
  }
  return absl::PermissionDeniedError("refused by " + r_->identity().self_addr() +
                                     ": not authenticated as a master of its cluster (its log says why)");
}

grpc::ServerReadReactor<peer::pb::Message>* PeerService::Messages(grpc::CallbackServerContext* ctx,
                                                                  peer::pb::StreamEnd*) {
  return new MessagesReactor(r_, Admit(ctx, "Messages"));
}

grpc::ServerReadReactor<peer::pb::SnapshotChunk>* PeerService::InstallSnapshot(grpc::CallbackServerContext* ctx,
                                                                               peer::pb::SnapshotReply* response) {
  return new SnapshotReactor(r_, Admit(ctx, "InstallSnapshot"), response);
}

grpc::ServerUnaryReactor* PeerService::Forward(grpc::CallbackServerContext* ctx, const storage::pb::Command* request,
                                               peer::pb::ForwardReply* response) {
  auto* reactor = ctx->DefaultReactor();
  if (auto id = Admit(ctx, "Forward"); !id.ok()) {
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
  if (auto id = Admit(ctx, "ForwardBatch"); !id.ok()) {
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
  if (auto id = Admit(ctx, "ReadIndex"); !id.ok()) {
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
