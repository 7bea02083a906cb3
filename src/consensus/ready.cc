#include "consensus/ready.h"

namespace kvgo::consensus {

std::optional<Ready> BeginReady(Node& node, ReadyHandler& handler) {
  Ready rd = node.GetReady();
  if (!handler.Send(rd) || !handler.Apply(rd)) return std::nullopt;
  return rd;
}

bool FinishReady(Node& node, ReadyHandler& handler, Ready& rd) {
  if (!handler.Persist(rd) || !handler.Snapshot(rd)) return false;
  node.Advance();
  return true;
}

bool ProcessReady(Node& node, ReadyHandler& handler) {
  std::optional<Ready> rd = BeginReady(node, handler);
  return rd && FinishReady(node, handler, *rd);
}

}  // namespace kvgo::consensus
