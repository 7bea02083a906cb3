#include "replication/snapshot_sender.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include "common/failpoint.h"
#include "common/limits.h"

namespace kvgo::replication {

namespace {

using SteadyClock = std::chrono::steady_clock;

}  // namespace

void GrpcSnapshotSender::Start(consensus::NodeId peer, consensus::Slot slot, consensus::Ballot ballot) {
  PeerClient* client = transport_->Client(peer);
  if (client == nullptr || stop_.load()) return;
  absl::MutexLock lock(&mu_);
  Stream& s = streams_[peer];
  if (s.active && s.active->load()) return;  // one at a time per peer
  if (s.thread.joinable()) s.thread.join();
  s.active = std::make_shared<std::atomic<bool>>(true);
  s.slot = slot;
  // Taken now, on the caller's thread: the store as of `slot`.
  auto reader = std::make_shared<SnapshotReader>(store_);
  spdlog::info("peer {} is behind the kept log: sending it a snapshot at slot {}", client->member().addr, slot);
  s.thread = std::thread([this, client, reader, slot, ballot, active = s.active] {
    pthread_setname_np(pthread_self(), "kvgo-snap-send");
    if (Send(client, reader.get(), slot, ballot)) sent_++;
    active->store(false);
  });
}

std::optional<consensus::Slot> GrpcSnapshotSender::InFlight(consensus::NodeId peer) const {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(peer);
  if (it == streams_.end() || !it->second.active || !it->second.active->load()) return std::nullopt;
  return it->second.slot;
}

void GrpcSnapshotSender::Stop() {
  stop_ = true;
  std::map<consensus::NodeId, Stream> streams;
  {
    absl::MutexLock lock(&mu_);
    streams.swap(streams_);
  }
  for (auto& [peer, s] : streams) {
    if (s.thread.joinable()) s.thread.join();
  }
}

bool GrpcSnapshotSender::Send(PeerClient* client, SnapshotReader* reader, consensus::Slot slot,
                              consensus::Ballot ballot) {
  grpc::ClientContext ctx;
  identity_->Sign(&ctx, "InstallSnapshot");
  const double rate = static_cast<double>(rate_mib_) * (1 << 20);
  // Twice the time the data takes at the rate limit, plus a minute.
  const double estimate = static_cast<double>(store_->ApproximateSize("", std::string(1, '\xff'))) / rate;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60 + static_cast<int64_t>(2 * estimate)));
  peer::pb::SnapshotReply reply;
  auto writer = client->stub()->InstallSnapshot(&ctx, &reply);
  const auto start = SteadyClock::now();
  bool ok = true;
  peer::pb::SnapshotChunk chunk;
  for (bool more = true; ok && more && !stop_.load();) {
    more = reader->Next(&chunk);
    chunk.set_slot(slot);
    chunk.set_from(identity_->self_id());
    chunk.mutable_ballot()->set_round(ballot.round);
    chunk.mutable_ballot()->set_node(ballot.node);
    chunk.set_last(!more);
    if (!more && !reader->status().ok()) {
      spdlog::warn("snapshot to {}: {}", client->member().addr, std::string(reader->status().message()));
      ok = false;
      break;
    }
    KVGO_FAILPOINT("snapshot.send");
    ok = writer->Write(chunk);
    // Throttle: never ahead of `rate` bytes per second.
    const auto due = start + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(reader->bytes()) / rate));
    while (ok && !stop_.load() && SteadyClock::now() < due) {
      std::this_thread::sleep_for(
          std::min<SteadyClock::duration>(due - SteadyClock::now(), std::chrono::milliseconds(50)));
    }
  }
  if (stop_.load() || !ok) ctx.TryCancel();
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (st.ok() && reply.error().empty() && ok) {
    spdlog::info("snapshot at slot {} sent to {}: {} keys, {} bytes in {:.1f} s", slot, client->member().addr,
                 reader->keys(), reader->bytes(), secs);
    return true;
  }
  spdlog::warn("snapshot to {} failed: {}", client->member().addr,
               !st.ok()                ? st.error_message()
               : reply.error().empty() ? "stream broken"
                                       : reply.error());
  return false;
}

}  // namespace kvgo::replication
