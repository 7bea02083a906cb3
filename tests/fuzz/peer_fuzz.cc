// libFuzzer target: the peer message decoder (src/replication/codec.h) and
// the consensus core stepping whatever it decodes. The input is a sequence
// of length-prefixed peer.pb.Message frames, so that a run can drive the
// core through several steps; the core must never crash nor break its own
// invariants (it aborts on a broken one in debug builds).
#include <cstddef>
#include <cstdint>
#include <string>

#include "consensus/paxos.h"
#include "peer.pb.h"
#include "replication/codec.h"

using kvgo::consensus::Node;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvgo::consensus::Config cfg;
  cfg.id = 1;
  cfg.members = {1, 2, 3};
  cfg.cluster_id = 7;
  cfg.seed = 1;
  Node node(cfg, kvgo::consensus::Restored{});
  size_t pos = 0;
  int steps = 0;
  while (pos + 2 <= size && steps < 64) {
    const size_t len = (size_t{data[pos]} << 8 | data[pos + 1]) % 4096;
    pos += 2;
    if (pos + len > size) break;
    kvgo::peer::pb::Message msg;
    if (msg.ParseFromArray(data + pos, static_cast<int>(len))) {
      kvgo::consensus::Message m = kvgo::replication::FromProto(msg);
      // Most fuzzed messages would be dropped as strangers: address some
      // of them properly so the protocol paths run too.
      if (steps % 2 == 0) {
        m.to = 1;
        m.cluster_id = 7;
        m.members_hash = kvgo::consensus::MembersHash({1, 2, 3});
        m.from = 2 + (m.from % 2);
      }
      node.Step(m);
      (void)kvgo::replication::ToProto(m);
    }
    if (data[pos - 1] & 1) node.Tick();
    if (node.HasReady()) {
      (void)node.GetReady();
      node.Advance();
    }
    if (node.role() == kvgo::consensus::Role::kLeader) (void)node.Propose("x");
    pos += len;
    steps++;
  }
  return 0;
}
