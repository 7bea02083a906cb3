#include <openssl/sha.h>

#include "common/checksum.h"
#include "replication/replica_cluster_node.h"

namespace kvgo::replication::testing {

storage::pb::Command ReplicaCluster::Put(const std::string& key, const std::string& value) {
  storage::pb::Command cmd;
  cmd.set_now_ms(clock_.NowMs());
  auto* w = cmd.mutable_write()->add_writers();
  w->set_table_name("main");
  w->mutable_meta()->set_key(key);
  w->mutable_data()->set_value(value);
  w->mutable_data()->set_check(ValueCheck(value));
  w->mutable_meta()->set_data_check(w->data().check());
  return cmd;
}

void ReplicaCluster::Submit(size_t index, storage::pb::Command cmd, storage::CommandLog::Callback done) {
  Node& n = *nodes_[index];
  if (!n.up) return done(absl::UnavailableError("connection refused; retry"));
  auto fired = std::make_shared<bool>(false);
  auto finish = [fired, done](StatusOr<storage::pb::CommandResult> res) {
    if (*fired) return;
    *fired = true;
    done(std::move(res));
  };
  const uint64_t call = n.next_call++;
  n.pending[call] = [finish] { finish(absl::DeadlineExceededError("the node crashed; the outcome is unknown")); };
  Proposal p;
  p.cmd = std::move(cmd);
  p.done = [&n, inc = n.incarnation, call, finish](StatusOr<storage::pb::CommandResult> res) {
    if (n.incarnation != inc) return;
    n.pending.erase(call);
    finish(std::move(res));
  };
  n.inbox.push_back(std::move(p));
}

ReplicaCluster::Answer<storage::pb::CommandResult> ReplicaCluster::Submit(size_t node, storage::pb::Command cmd) {
  auto answer = std::make_shared<std::optional<StatusOr<storage::pb::CommandResult>>>();
  Submit(node, std::move(cmd), [answer](StatusOr<storage::pb::CommandResult> res) { *answer = std::move(res); });
  return answer;
}

void ReplicaCluster::Read(size_t index, lynkdb::kvspec::v2::ObjectReader reader, Deadline deadline,
                          std::function<void(StatusOr<lynkdb::kvspec::v2::ObjectResult>)> done) {
  Node& n = *nodes_[index];
  if (!n.up) return done(absl::UnavailableError("connection refused"));
  auto fired = std::make_shared<bool>(false);
  auto finish = [fired, done](StatusOr<lynkdb::kvspec::v2::ObjectResult> res) {
    if (*fired) return;
    *fired = true;
    done(std::move(res));
  };
  const uint64_t call = n.next_call++;
  n.pending[call] = [finish] { finish(absl::UnavailableError("the node crashed")); };
  n.barriers->Read(deadline, [&n, inc = n.incarnation, call, finish, reader = std::move(reader)](Status s) {
    if (n.incarnation != inc) return;
    n.pending.erase(call);
    if (!s.ok()) return finish(s);
    finish(n.query->Query(reader));
  });
}

ReplicaCluster::Answer<consensus::Slot> ReplicaCluster::LeaderRead(size_t node) {
  auto answer = std::make_shared<std::optional<StatusOr<consensus::Slot>>>();
  nodes_[node]->inbox.push_back(replication::LeaderRead{[answer](Status s, consensus::Slot index) {
    if (s.ok()) {
      *answer = index;
    } else {
      *answer = s;
    }
  }});
  return answer;
}

void ReplicaCluster::BounceNextForward(size_t node) { nodes_[node]->bounce_next = true; }
void ReplicaCluster::LoseNextForwardReply(size_t node) { nodes_[node]->lose_next_reply = true; }

ReplicaView ReplicaCluster::view(size_t node) const { return nodes_[node]->replica->view(); }

consensus::Slot ReplicaCluster::published_applied(size_t node) const { return nodes_[node]->published_applied; }

bool ReplicaCluster::AllApplied() const {
  consensus::Slot commit = 0;
  for (const auto& node : nodes_) {
    if (node->up) commit = std::max(commit, node->replica->view().commit);
  }
  for (const auto& node : nodes_) {
    if (node->up && node->replica->view().applied < commit) return false;
  }
  return true;
}

std::string ReplicaCluster::Digest(size_t node) const {
  std::string all;  // test stores are small
  auto it = nodes_[node]->store->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (PaxosLogStore::IsLogKey(it->key().ToString())) continue;
    const uint64_t sizes[2] = {it->key().size(), it->value().size()};
    all.append(reinterpret_cast<const char*>(sizes), sizeof(sizes));
    all.append(it->key().data(), it->key().size());
    all.append(it->value().data(), it->value().size());
  }
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(all.data()), all.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof(out));
}

// ---------------------------------------------------------------- snapshots

// One InstallSnapshot stream, shared by its messages.
struct ReplicaCluster::Snapshots::Stream {
  consensus::Slot slot = 0;
  consensus::Ballot ballot;
  uint64_t sender_incarnation = 0;
  std::unique_ptr<SnapshotReader> reader;
  // The receiver's side: its install, once the first chunk began one.
  bool begun = false;
  uint64_t generation = 0;
  uint64_t receiver_incarnation = 0;
  uint64_t steps = 0;  // chunks taken plus acknowledgements heard
  bool over = false;
};

void ReplicaCluster::Snapshots::Start(consensus::NodeId peer, consensus::Slot slot, consensus::Ballot ballot) {
  if (streams_.count(peer) > 0 || c_->IndexOf(peer) >= c_->nodes_.size()) return;
  auto st = std::make_shared<Stream>();
  st->slot = slot;
  st->ballot = ballot;
  st->sender_incarnation = c_->nodes_[self_]->incarnation;
  // Small chunks: a stream of many, so that streams break midway too.
  st->reader = std::make_unique<SnapshotReader>(c_->nodes_[self_]->store.get(), 256);
  streams_[peer] = st;
  Watch(peer, st, 0);
  SendNext(peer, st);
}

void ReplicaCluster::Snapshots::Watch(consensus::NodeId peer, std::shared_ptr<Stream> st, uint64_t steps) {
  ReplicaCluster* c = c_;
  Node* sender = c->nodes_[self_].get();
  Node* receiver = c->nodes_[c->IndexOf(peer)].get();
  c->After(kCallTimeoutMs, [c, self = this, sender, receiver, peer, st, steps] {
    if (st->over) return;
    // `self` is valid while its node has not crashed since.
    const bool sender_alive = sender->up && sender->incarnation == st->sender_incarnation;
    if (st->steps != steps && sender_alive) return self->Watch(peer, st, st->steps);
    // Stalled, or the sender crashed: the stream breaks at both ends.
    if (st->begun && receiver->up && receiver->incarnation == st->receiver_incarnation) {
      receiver->replica->AbortInstall(st->generation);
      c->installs_aborted_++;
    }
    st->over = true;
    st->reader.reset();
    if (!sender_alive) return;
    auto it = self->streams_.find(peer);
    if (it != self->streams_.end() && it->second == st) self->streams_.erase(it);
  });
}

ReplicaCluster::Snapshots::~Snapshots() {
  // The readers hold snapshots of this node's store, which goes next.
  for (auto& [peer, st] : streams_) st->reader.reset();
}

std::optional<consensus::Slot> ReplicaCluster::Snapshots::InFlight(consensus::NodeId peer) const {
  auto it = streams_.find(peer);
  if (it == streams_.end()) return std::nullopt;
  return it->second->slot;
}

void ReplicaCluster::Snapshots::SendNext(consensus::NodeId peer, std::shared_ptr<Stream> st) {
  ReplicaCluster* c = c_;
  const size_t from = self_, to = c->IndexOf(peer);
  Node* sender = c->nodes_[from].get();
  Node* receiver = c->nodes_[to].get();
  // Ends the stream at the sender (if it is still the node that began it).
  auto end = [sender, peer, st] {
    st->over = true;
    st->reader.reset();
    if (!sender->up || sender->incarnation != st->sender_incarnation) return;
    auto it = sender->snapshots->streams_.find(peer);
    if (it != sender->snapshots->streams_.end() && it->second == st) sender->snapshots->streams_.erase(it);
  };
  auto chunk = std::make_shared<peer::pb::SnapshotChunk>();
  const bool more = st->reader->Next(chunk.get());
  chunk->set_slot(st->slot);
  chunk->set_from(sender->id);
  chunk->mutable_ballot()->set_round(st->ballot.round);
  chunk->mutable_ballot()->set_node(st->ballot.node);
  chunk->set_last(!more);
  auto take = [c, from, to, peer, receiver, sender, st, chunk, end](const auto& self) -> void {
    if (st->over || !receiver->up) return;
    // Production installs under the driver's lock: not during its fsync.
    if (const int64_t now = c->clock_.MonotonicMs(); receiver->busy_until > now) {
      c->After(receiver->busy_until - now, [self] { self(self); });
      return;
    }
    if (!st->begun) {
      auto gen = receiver->replica->BeginInstall(chunk->slot(), chunk->from(),
                                                 {chunk->ballot().round(), chunk->ballot().node()});
      if (!gen.ok()) return end();  // refused: the sender hears it
      st->begun = true;
      st->generation = *gen;
      st->receiver_incarnation = receiver->incarnation;
    } else if (receiver->incarnation != st->receiver_incarnation) {
      return;  // the receiver restarted: the stream is gone
    }
    st->steps++;
    if (Status s = receiver->replica->InstallChunk(st->generation, *chunk); !s.ok()) {
      receiver->replica->AbortInstall(st->generation);
      c->installs_aborted_++;
      return end();
    }
    if (chunk->last()) {
      c->snapshots_installed_++;
      return end();
    }
    c->DeliverOn(to, from, [sender, peer, st] {
      if (st->over || !sender->up || sender->incarnation != st->sender_incarnation) return;
      st->steps++;
      sender->snapshots->SendNext(peer, st);
    });
  };
  c->DeliverOn(from, to, [take] { take(take); });
}

}  // namespace kvgo::replication::testing
