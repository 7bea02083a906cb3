// PeerService: the callee side of proto/peer.proto's Peer service. Every
// call is authenticated first (PeerIdentity::Verify); a refused peer is
// logged (at most once a minute per reason) and answered
// PERMISSION_DENIED. Consensus messages go to the Replicator's inbox;
// Forward, ReadIndex and InstallSnapshot call its entry points.
//
// Thread-safe (gRPC's callback API; no handler blocks, except that
// snapshot chunks are written to LevelDB as they arrive).
#pragma once

#include <grpcpp/grpcpp.h>

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

  // Calls refused by authentication, for metrics and tests.
  uint64_t refused() const { return refused_.load(); }

 private:
  // Verifies the caller; logs and counts a refusal.
  StatusOr<consensus::NodeId> Admit(grpc::CallbackServerContext* ctx);

  Replicator* r_;
  std::atomic<uint64_t> refused_{0};
  std::mutex log_mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_logged_;  // GUARDED_BY(log_mu_)
};

}  // namespace kvgo::replication
