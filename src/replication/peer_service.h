// PeerService: the callee side of proto/peer.proto's Peer service. Every
// call is authenticated first (PeerIdentity::Verify). A refused caller is
// answered PERMISSION_DENIED with no detail (a stranger learns nothing of
// the cluster); the reason goes to this node's log, at most once a minute
// per reason (a fixed set, so a flood of refused calls cannot flood the log
// or grow memory), and to kvgo_peer_calls_refused_total. Consensus messages
// go to the Replicator's inbox; Forward, ReadIndex and InstallSnapshot call
// its entry points.
//
// Thread-safe (gRPC's callback API; no handler blocks, except that
// snapshot chunks are written to LevelDB as they arrive).
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <string_view>

#include "common/log_limiter.h"
#include "peer.grpc.pb.h"
#include "replication/replicator.h"

namespace kvgo::replication {

class PeerService final : public peer::pb::Peer::CallbackService {
 public:
  // REQUIRES: `replicator` outlives the service's calls (stop the gRPC
  // server first).
  explicit PeerService(Replicator* replicator) : r_(replicator) {}

  grpc::ServerReadReactor<peer::pb::Message>* Messages(grpc::CallbackServerContext* ctx,
                                                       peer::pb::StreamEnd* response) override;
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* ctx, const storage::pb::Command* request,
                                    peer::pb::ForwardReply* response) override;
  grpc::ServerUnaryReactor* ForwardBatch(grpc::CallbackServerContext* ctx, const peer::pb::ForwardBatchRequest* request,
                                         peer::pb::ForwardBatchReply* response) override;
  grpc::ServerUnaryReactor* ReadIndex(grpc::CallbackServerContext* ctx, const peer::pb::ReadIndexRequest* request,
                                      peer::pb::ReadIndexReply* response) override;
  grpc::ServerReadReactor<peer::pb::SnapshotChunk>* InstallSnapshot(grpc::CallbackServerContext* ctx,
                                                                    peer::pb::SnapshotReply* response) override;

  // Calls refused by authentication, by reason, for metrics and tests.
  uint64_t refused(PeerRefusal why) const { return refused_[static_cast<size_t>(why)].load(); }

 private:
  static constexpr size_t kReasons = static_cast<size_t>(PeerRefusal::kCount);
  // Verifies a call of `method`; logs and counts a refusal.
  StatusOr<consensus::NodeId> Admit(grpc::CallbackServerContext* ctx, std::string_view method);

  Replicator* r_;
  std::array<std::atomic<uint64_t>, kReasons> refused_{};
  LogLimiter log_limiter_;  // keyed by reason
};

}  // namespace kvgo::replication
