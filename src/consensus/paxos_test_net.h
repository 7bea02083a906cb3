// Net: a network of consensus Nodes that a test drives by hand (each
// node's Ready done against an in-memory disk and a message queue), for the
// scripted scenarios of paxos_test.cc and paxos_ready_test.cc.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "consensus/paxos.h"
#include "consensus/ready.h"

namespace kvgo::consensus::testing {

struct Net {
  // Does a node's Ready against the test's disk and queue.
  struct Handler : ReadyHandler {
    Net* net;
    NodeId id;
    Handler(Net* n, NodeId i) : net(n), id(i) {}
    bool Send(Ready& rd) override {
      for (auto& m : rd.messages) {
        if (!net->cut.count(m.from) && !net->cut.count(m.to) && (!net->drop || !net->drop(m))) net->queue.push_back(m);
      }
      return true;
    }
    bool Apply(Ready& rd) override {
      for (auto& e : rd.committed) net->applied[id].push_back(e);
      for (Slot s : rd.unknown) net->unknown[id].push_back(s);
      return true;
    }
    bool Persist(Ready& rd) override {
      if (rd.hard_state) net->disk[id].hard_state = *rd.hard_state;
      for (auto& e : rd.entries) net->disk[id].entries[e.slot] = e;
      return true;
    }
    bool Snapshot(Ready& rd) override {
      for (NodeId peer : rd.snapshots) net->snapshot_requests.push_back({id, peer});
      return true;
    }
  };

  explicit Net(int n, size_t max_bytes_per_message = Config().max_bytes_per_message) {
    std::vector<NodeId> members;
    for (int i = 1; i <= n; i++) members.push_back(i);
    for (NodeId id : members) {
      Config c;
      c.id = id;
      c.members = members;
      c.cluster_id = 7;
      c.seed = id;
      c.max_bytes_per_message = max_bytes_per_message;
      nodes[id] = std::make_unique<Node>(c, Restored{});
      configs[id] = c;
    }
    initial.voters = members;
  }
  // Nodes 1..voters vote, the next `learners.n` nodes learn.
  struct Learners {
    int n;
  };
  Net(int voters, Learners learners) {
    for (int i = 1; i <= voters; i++) initial.voters.push_back(i);
    for (int i = voters + 1; i <= voters + learners.n; i++) initial.learners.push_back(i);
    for (int i = 1; i <= voters + learners.n; i++) Add(i);
  }
  // Starts node `id` with an empty log and the membership as of slot 0 (a
  // node that joins gets a snapshot later).
  void Add(NodeId id) {
    Config c;
    c.id = id;
    c.cluster_id = 7;
    c.seed = id;
    configs[id] = c;
    Restored r;
    r.membership = initial;
    nodes[id] = std::make_unique<Node>(c, r);
  }
  // Persist and route every node's Ready until nothing moves.
  void Settle(int max_rounds = 1000) {
    for (int r = 0; r < max_rounds; r++) {
      bool moved = false;
      for (auto& [id, n] : nodes) {
        if (!n || !n->HasReady()) continue;
        moved = true;
        Handler h{this, id};
        ProcessReady(*n, h);
      }
      while (!queue.empty()) {
        moved = true;
        Message m = queue.front();
        queue.pop_front();
        if (nodes[m.to]) nodes[m.to]->Step(m);
      }
      if (!moved) return;
    }
  }
  void Ticks(int n) {
    for (int i = 0; i < n; i++) {
      for (auto& [id, node] : nodes) {
        if (node) node->Tick();
      }
      Settle();
    }
  }
  NodeId Leader() {
    for (auto& [id, n] : nodes) {
      if (n && n->role() == Role::kLeader && !cut.count(id)) return id;
    }
    return 0;
  }
  void Crash(NodeId id) { nodes[id].reset(); }
  void Restart(NodeId id) {
    Restored r = disk[id];
    r.applied = applied[id].empty() ? 0 : applied[id].back().slot;
    r.membership = MembershipOf(id, &r.membership_slot);
    nodes[id] = std::make_unique<Node>(configs[id], r);
  }
  // The membership node `id` applied last (its state machine's), and the
  // slot it was set in.
  Membership MembershipOf(NodeId id, Slot* slot = nullptr) {
    Membership m = initial;
    Slot at = 0;
    for (auto& e : applied[id]) {
      if (!TakesEffect(e, at)) continue;
      m = *e.config;
      at = e.slot;
    }
    if (slot) *slot = at;
    return m;
  }
  std::vector<std::string> Values(NodeId id) {
    std::vector<std::string> v;
    for (auto& e : applied[id]) {
      if (!e.noop && !e.config) v.push_back(e.value());
    }
    return v;
  }

  Membership initial;
  std::map<NodeId, std::unique_ptr<Node>> nodes;
  std::map<NodeId, Config> configs;
  std::map<NodeId, Restored> disk;
  std::map<NodeId, std::vector<Entry>> applied;
  std::deque<Message> queue;
  std::set<NodeId> cut;
  std::vector<std::pair<NodeId, NodeId>> snapshot_requests;  // (from, to)
  std::map<NodeId, std::vector<Slot>> unknown;
  std::function<bool(const Message&)> drop;
};

}  // namespace kvgo::consensus::testing
