#include "replication/grpc_transport.h"

namespace kvgo::replication {

namespace {

constexpr auto kForwardTimeout = std::chrono::seconds(10);

Status FromGrpc(const grpc::Status& st) {
  return st.ok() ? absl::OkStatus() : Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

}  // namespace

GrpcTransport::GrpcTransport(const std::vector<Member>& peers, const PeerIdentity* identity,
                             std::shared_ptr<grpc::ChannelCredentials> creds, uint32_t apply_rules) {
  for (const auto& m : peers) clients_[m.id] = std::make_unique<PeerClient>(m, identity, creds, apply_rules);
}

PeerClient* GrpcTransport::Client(consensus::NodeId peer) const {
  auto it = clients_.find(peer);
  return it == clients_.end() ? nullptr : it->second.get();
}

void GrpcTransport::Send(consensus::Message m) {
  if (PeerClient* c = Client(m.to)) c->Send(std::move(m));
}

bool GrpcTransport::Reachable(consensus::NodeId peer) const {
  PeerClient* c = Client(peer);
  return c != nullptr && c->reachable();
}

std::string GrpcTransport::Addr(consensus::NodeId peer) const {
  PeerClient* c = Client(peer);
  return c == nullptr ? "" : c->member().addr;
}

void GrpcTransport::Forward(consensus::NodeId leader, std::vector<storage::pb::Command> cmds, ForwardDone done) {
  PeerClient* c = Client(leader);
  if (c == nullptr) return done(absl::UnavailableError("not a member"), {});
  if (cmds.size() == 1) {
    c->Forward(cmds[0], kForwardTimeout, [done = std::move(done)](grpc::Status st, const peer::pb::ForwardReply& r) {
      if (!st.ok()) return done(FromGrpc(st), {});
      done(absl::OkStatus(), {r});
    });
    return;
  }
  peer::pb::ForwardBatchRequest req;
  for (auto& cmd : cmds) *req.add_commands() = std::move(cmd);
  c->ForwardBatch(std::move(req), kForwardTimeout,
                  [done = std::move(done)](grpc::Status st, const peer::pb::ForwardBatchReply& r) {
                    if (!st.ok()) return done(FromGrpc(st), {});
                    done(absl::OkStatus(), {r.replies().begin(), r.replies().end()});
                  });
}

void GrpcTransport::ReadIndex(consensus::NodeId leader, ReadIndexDone done) {
  PeerClient* c = Client(leader);
  if (c == nullptr) return done(absl::UnavailableError("no leader: the cluster is electing one or has no majority"), 0);
  c->ReadIndex(kReadIndexTimeout, [done = std::move(done), addr = c->member().addr](
                                      grpc::Status st, const peer::pb::ReadIndexReply& reply) {
    if (!st.ok()) return done(absl::UnavailableError("cannot reach the leader " + addr + ": " + st.error_message()), 0);
    if (!reply.error().empty()) return done(absl::UnavailableError(reply.error()), 0);
    done(absl::OkStatus(), reply.index());
  });
}

void GrpcTransport::Stop() {
  for (auto& [id, c] : clients_) c->Stop();
}

}  // namespace kvgo::replication
