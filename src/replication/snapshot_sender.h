// GrpcSnapshotSender: streams a LevelDB snapshot of this node's KV store
// (SnapshotReader's chunks) to a peer over the Peer service's
// InstallSnapshot call, throttled to
// [cluster] snapshot_rate_mib. One thread per stream, at most one stream
// per peer; each stream has a deadline of twice its expected time plus a
// minute, so a stalled receiver does not hold it forever.
// Thread-safe. The destructor stops the streams and joins their threads.
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "replication/grpc_transport.h"
#include "replication/ports.h"
#include "replication/snapshot_reader.h"
#include "storage/store.h"

namespace kvgo::replication {

class GrpcSnapshotSender final : public SnapshotSender {
 public:
  // REQUIRES: store, transport and identity outlive this object.
  GrpcSnapshotSender(storage::Store* store, GrpcTransport* transport, const PeerIdentity* identity, int rate_mib)
      : store_(store), transport_(transport), identity_(identity), rate_mib_(rate_mib) {}
  ~GrpcSnapshotSender() override { Stop(); }

  void Start(consensus::NodeId peer, consensus::Slot slot, consensus::Ballot ballot) override;
  std::optional<consensus::Slot> InFlight(consensus::NodeId peer) const override;
  // Cancels the streams in flight and joins their threads. Idempotent.
  void Stop();
  uint64_t sent() const { return sent_.load(); }

 private:
  struct Stream {
    std::thread thread;
    consensus::Slot slot = 0;
    std::shared_ptr<std::atomic<bool>> active;
  };
  // Returns whether the peer took the snapshot.
  bool Send(PeerClient* client, SnapshotReader* reader, consensus::Slot slot, consensus::Ballot ballot);

  storage::Store* const store_;
  GrpcTransport* const transport_;
  const PeerIdentity* const identity_;
  const int rate_mib_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  mutable absl::Mutex mu_;
  std::map<consensus::NodeId, Stream> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvgo::replication
