// Google Benchmark of the consensus core alone: 3 nodes over a zero-latency
// in-memory network, 1 KiB entries proposed in batches. Reports committed
// entries per second (items_per_second). The driver's I/O is not included.
#include <benchmark/benchmark.h>

#include <deque>
#include <memory>
#include <vector>

#include "consensus/paxos.h"

namespace {

using namespace kvgo::consensus;

struct Cluster {
  std::vector<std::unique_ptr<Node>> nodes;
  std::deque<Message> q;
  uint64_t committed = 0;
  Cluster() {
    std::vector<NodeId> members = {1, 2, 3};
    for (NodeId id : members) {
      Config c;
      c.id = id;
      c.members = members;
      c.seed = id;
      c.max_entries_per_accept = 1024;
      c.max_inflight_entries = 1 << 20;
      nodes.push_back(std::make_unique<Node>(c, Restored{}));
    }
  }
  void Settle() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& n : nodes) {
        if (!n->HasReady()) continue;
        moved = true;
        Ready rd = n->GetReady();
        for (auto& m : rd.messages) q.push_back(std::move(m));
        if (n->role() == Role::kLeader) committed += rd.committed.size();
        n->Advance();
        // As a driver would: keep the log short once entries are applied.
        if (n->applied() > n->compacted() + 8192) n->Compact(n->applied() - 1024);
      }
      while (!q.empty()) {
        moved = true;
        Message m = std::move(q.front());
        q.pop_front();
        nodes[m.to - 1]->Step(m);
      }
    }
  }
  Node* Leader() {
    for (auto& n : nodes) {
      if (n->role() == Role::kLeader) return n.get();
    }
    return nullptr;
  }
};

void BM_CommitThreeNodes(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  Cluster c;
  while (c.Leader() == nullptr) {
    for (auto& n : c.nodes) n->Tick();
    c.Settle();
  }
  Node* leader = c.Leader();
  const std::string value(1024, 'v');
  c.committed = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; i++) leader->Propose(value);
    c.Settle();
  }
  state.SetItemsProcessed(static_cast<int64_t>(c.committed));
  state.SetBytesProcessed(static_cast<int64_t>(c.committed) * 1024);
}
BENCHMARK(BM_CommitThreeNodes)->Arg(1)->Arg(64)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
