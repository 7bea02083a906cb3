#include "consensus/ready.h"

namespace kvgo::consensus {

bool ProcessReady(Node& node, ReadyHandler& handler) {
  Ready rd = node.GetReady();
  if (!handler.Send(rd) || !handler.Apply(rd) || !handler.Persist(rd) || !handler.Snapshot(rd)) return false;
  node.Advance();
  return true;
}

}  // namespace kvgo::consensus
