// Peer transport: how one master talks to another over gRPC (the Peer
// service of proto/peer.proto).
//
// PeerClient is this node's side of one peer: a bounded queue of consensus
// messages drained by one sender thread into one long-lived client stream
// (reconnected with backoff; messages queued while the peer is unreachable
// are dropped, which Paxos tolerates), plus unary calls (Forward,
// ReadIndex) and snapshot streams on the same channel.
//
// PeerIdentity signs what this node sends and checks what it receives:
// metadata x-kvgo-node (sender id), x-kvgo-cluster (cluster id) and
// x-kvgo-peer-auth, an HMAC-SHA256 over the call's method, both ids and the
// time, keyed with the cluster's peer key (PeerKey). No client token, not
// even a root one, passes: clients never hold the peer key.
//
// Thread-safe.
#pragma once

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

#include "common/status.h"
#include "config/config.h"
#include "consensus/paxos.h"
#include "peer.grpc.pb.h"
#include "replication/codec.h"

namespace kvgo::replication {

struct Member {
  consensus::NodeId id = 0;
  std::string addr;
};

// The node id of a master: derived from its address, so every node of a
// cluster computes the same ids from the same [[cluster.masters]] list.
consensus::NodeId NodeIdOf(const std::string& addr);
// The cluster id: derived from the sorted master addresses, so every node
// of a cluster computes the same one from the same list.
uint64_t ClusterIdOf(std::vector<std::string> addrs);

// The key the masters sign peer calls with: from [cluster] peer_secret
// when set, else from every master's address and auth_secret_key together
// (the seed's config), so that a client holding some of those secrets, as
// root keys, cannot derive it. 32 bytes.
std::string PeerKey(const Config& config);

// Why a peer call was refused (a small fixed set: the refusal log is
// rate-limited per reason).
enum class PeerRefusal { kNoClientCert = 0, kOtherCluster, kNotMember, kBadToken, kExpired, kBadSignature, kCount };
const char* PeerRefusalName(PeerRefusal r);

class PeerIdentity {
 public:
  // `require_client_cert`: mutual TLS; Verify refuses a call whose TLS
  // connection presented no certificate that verified against the CA.
  PeerIdentity(Member self, uint64_t cluster_id, std::vector<Member> members, std::string peer_key,
               bool require_client_cert = false)
      : self_(std::move(self)),
        cluster_id_(cluster_id),
        members_(std::move(members)),
        key_(std::move(peer_key)),
        require_client_cert_(require_client_cert) {}

  // Adds this node's credentials for a call of Peer method `method`
  // ("Messages", "Forward", ...) to an outgoing call.
  void Sign(grpc::ClientContext* ctx, std::string_view method) const;
  struct Refused {
    PeerRefusal reason;
    std::string detail;  // for this node's log: names the caller
  };
  // Checks an incoming call of `method`: returns the caller's node id, or
  // why it was refused. The caller is told only that it was refused (see
  // PeerService), so that a stranger learns nothing about the cluster.
  std::variant<consensus::NodeId, Refused> Verify(const grpc::CallbackServerContext* ctx,
                                                  std::string_view method) const;

  // The peer key changes on SIGHUP (with the secrets it derives from).
  void SetKey(std::string peer_key);

  uint64_t cluster_id() const { return cluster_id_; }
  consensus::NodeId self_id() const { return self_.id; }
  const std::string& self_addr() const { return self_.addr; }

 private:
  mutable absl::Mutex mu_;
  const Member self_;
  const uint64_t cluster_id_;
  const std::vector<Member> members_;
  std::string key_ ABSL_GUARDED_BY(mu_);
  const bool require_client_cert_;
};

// How this node dials its peers: plaintext, or (with a TLS config, which
// then has a CA) TLS that verifies the peer against the CA and presents
// this node's certificate.
std::shared_ptr<grpc::ChannelCredentials> PeerCredentials(const TlsConfig& tls);

class PeerClient {
 public:
  // `creds`: plaintext, or TLS with this node's certificate as the client
  // certificate (PeerCredentials).
  // `apply_rules` (the newest this node applies) goes on every message.
  PeerClient(Member peer, const PeerIdentity* identity, std::shared_ptr<grpc::ChannelCredentials> creds,
             uint32_t apply_rules);
  ~PeerClient();  // Stop()s

  // Queues `m` for sending; drops it if the queue is full.
  void Send(consensus::Message m);

  using ForwardDone = std::function<void(grpc::Status, const peer::pb::ForwardReply&)>;
  void Forward(const storage::pb::Command& cmd, std::chrono::milliseconds timeout, ForwardDone done);
  using ForwardBatchDone = std::function<void(grpc::Status, const peer::pb::ForwardBatchReply&)>;
  void ForwardBatch(peer::pb::ForwardBatchRequest req, std::chrono::milliseconds timeout, ForwardBatchDone done);
  using ReadIndexDone = std::function<void(grpc::Status, const peer::pb::ReadIndexReply&)>;
  void ReadIndex(std::chrono::milliseconds timeout, ReadIndexDone done);

  peer::pb::Peer::Stub* stub() { return stub_.get(); }
  const Member& member() const { return peer_; }
  // Whether this node has a working link to the peer: its message stream
  // is up, or, when it has had nothing to send (two followers), its
  // channel is connected and the peer did not refuse its last stream.
  // Asks an idle channel to connect (for kvgo_cluster_peer_connected).
  bool connected() const {
    return connected_.load() || (!refused_.load() && channel_->GetState(true) == GRPC_CHANNEL_READY);
  }
  // Whether the channel has a live connection right now (GetState READY):
  // false at once when the peer's process died and the kernel closed its
  // sockets, unlike connected(), which notices at the next write.
  bool reachable() const { return channel_->GetState(false) == GRPC_CHANNEL_READY; }
  uint64_t dropped() const { return dropped_.load(); }

  void Stop();

 private:
  void RunSender();

  const Member peer_;
  const PeerIdentity* identity_;
  const uint32_t apply_rules_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<peer::pb::Peer::Stub> stub_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<consensus::Message> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // to cancel on Stop
  std::atomic<bool> connected_{false};
  std::atomic<bool> refused_{false};  // the peer refused the last stream (auth)
  std::atomic<uint64_t> dropped_{0};
  std::thread sender_;
};

}  // namespace kvgo::replication
