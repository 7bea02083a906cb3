// GrpcTransport: the PeerTransport of production, one PeerClient (gRPC
// channel, message stream, unary calls) per other member.
// Thread-safe (PeerClient is); the member set is fixed at construction.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "replication/ports.h"
#include "replication/transport.h"

namespace kvgo::replication {

class GrpcTransport final : public PeerTransport {
 public:
  // `peers`: the other members. REQUIRES: identity outlives this object.
  GrpcTransport(const std::vector<Member>& peers, const PeerIdentity* identity,
                std::shared_ptr<grpc::ChannelCredentials> creds, uint32_t apply_rules);

  void Send(consensus::Message m) override;
  bool Reachable(consensus::NodeId peer) const override;
  std::string Addr(consensus::NodeId peer) const override;
  // One Forward call for a single command, else one ForwardBatch call.
  void Forward(consensus::NodeId leader, std::vector<storage::pb::Command> cmds, ForwardDone done) override;
  void ReadIndex(consensus::NodeId leader, ReadIndexDone done) override;

  // The client of member `peer`, or null.
  PeerClient* Client(consensus::NodeId peer) const;
  const std::map<consensus::NodeId, std::unique_ptr<PeerClient>>& clients() const { return clients_; }
  // Stops every client: queued messages are dropped, calls in flight fail.
  void Stop();

 private:
  std::map<consensus::NodeId, std::unique_ptr<PeerClient>> clients_;
};

}  // namespace kvgo::replication
