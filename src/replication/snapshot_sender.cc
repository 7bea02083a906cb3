#include "replication/snapshot_sender.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include "common/failpoint.h"
#include "common/limits.h"
#include "replication/log_store.h"

namespace kvgo::replication {

namespace {

using SteadyClock = std::chrono::steady_clock;

// Snapshot pairs per chunk, or one larger pair alone (a stored object is at
// most limits::kMaxCommandBytes, so a chunk fits a peer message).
constexpr size_t kChunkBytes = 1 << 20;
static_assert(kChunkBytes <= limits::kPeerBatchBytes);

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
  const leveldb::Snapshot* snap = store_->db()->GetSnapshot();
  spdlog::info("peer {} is behind the kept log: sending it a snapshot at slot {}", client->member().addr, slot);
  s.thread = std::thread([this, client, snap, slot, ballot, active = s.active] {
    pthread_setname_np(pthread_self(), "kvgo-snap-send");
    if (Send(client, snap, slot, ballot)) sent_++;
    store_->db()->ReleaseSnapshot(snap);
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

bool GrpcSnapshotSender::Send(PeerClient* client, const leveldb::Snapshot* snap, consensus::Slot slot,
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
  uint64_t sent = 0, keys = 0;
  bool ok = true;
  auto it = store_->NewIterator(snap);
  peer::pb::SnapshotChunk chunk;
  size_t chunk_bytes = 0;
  auto flush = [&](bool last) {
    chunk.set_slot(slot);
    chunk.set_from(identity_->self_id());
    chunk.mutable_ballot()->set_round(ballot.round);
    chunk.mutable_ballot()->set_node(ballot.node);
    chunk.set_last(last);
    KVGO_FAILPOINT("snapshot.send");
    ok = ok && writer->Write(chunk);
    sent += chunk_bytes;
    chunk.Clear();
    chunk_bytes = 0;
    // Throttle: never ahead of `rate` bytes per second.
    const auto due = start + std::chrono::duration_cast<SteadyClock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(sent) / rate));
    while (ok && !stop_.load() && SteadyClock::now() < due) {
      std::this_thread::sleep_for(
          std::min<SteadyClock::duration>(due - SteadyClock::now(), std::chrono::milliseconds(50)));
    }
  };
  for (it->SeekToFirst(); ok && it->Valid() && !stop_.load(); it->Next()) {
    const leveldb::Slice k = it->key();
    if (!k.empty() && k[0] == kPaxosSpace) continue;
    if (chunk_bytes > 0 && chunk_bytes + k.size() + it->value().size() > kChunkBytes) flush(false);
    if (!ok) break;
    auto* kv = chunk.add_pairs();
    kv->set_key(k.data(), k.size());
    kv->set_value(it->value().data(), it->value().size());
    chunk_bytes += k.size() + it->value().size();
    keys++;
  }
  if (stop_.load()) {
    ctx.TryCancel();
  } else if (ok) {
    flush(true);
  }
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (st.ok() && reply.error().empty() && ok) {
    spdlog::info("snapshot at slot {} sent to {}: {} keys, {} bytes in {:.1f} s", slot, client->member().addr, keys,
                 sent, secs);
    return true;
  }
  spdlog::warn("snapshot to {} failed: {}", client->member().addr,
               !st.ok()                ? st.error_message()
               : reply.error().empty() ? "stream broken"
                                       : reply.error());
  return false;
}

}  // namespace kvgo::replication
