// ApplyChain: the check that keeps precomputed entries honest
// (docs/replication.md "Precomputed entries").
//
// A leader computes an entry on its speculative state: the state after
// every entry it proposed before, chosen or not. The entry names the entry
// it was computed after (`after_id`, a proposal id), and a replica applies
// it only if that is the last entry it applied (its head). A leader change
// that puts another value in a slot of the chain breaks it there: every
// later entry of the chain is skipped on every replica alike. `after_id` 0
// means "computed by every replica": no check.
//
// The head is part of the replicated state: it is stored with the applied
// data (key `s apply_head`) and travels in snapshots.
//
// Not thread-safe; a value type.
#pragma once

#include <cstdint>

namespace kvgo::replication {

struct ApplyChain {
  uint64_t head = 0;  // proposal id of the last entry applied

  // Whether the entry (`id`, computed after `after_id`) is to be applied;
  // if so, it becomes the head.
  bool Admit(uint64_t after_id, uint64_t id) {
    if (after_id != 0 && after_id != head) return false;
    head = id;
    return true;
  }
};

}  // namespace kvgo::replication
