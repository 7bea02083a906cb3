// ApplyRules: which apply rules (storage::kApplyRules) this node's
// proposals carry, so that a rolling upgrade never makes replicas compute
// different states: the oldest of the newest rules each member applies.
// A member not heard from yet counts as the highest rules any applied
// command had (every member could apply those once).
// Thread-safe: peers are noted from the Peer service's threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "consensus/paxos.h"
#include "storage/state_machine.h"

namespace kvgo::replication {

class ApplyRules {
 public:
  // `max`: the newest rules this binary applies. The peer set is fixed.
  ApplyRules(uint32_t max, const std::vector<consensus::NodeId>& peers) : max_(max) {
    for (consensus::NodeId id : peers) peers_[id] = std::make_unique<std::atomic<uint32_t>>(kUnheard);
  }
  uint32_t max() const { return max_; }
  // What a proposal gets now.
  uint32_t ForProposal() const {
    uint32_t rules = max_;
    const uint32_t floor = floor_.load(std::memory_order_relaxed);
    for (const auto& [id, r] : peers_) {
      const uint32_t v = r->load(std::memory_order_relaxed);
      rules = std::min(rules, v == kUnheard ? floor : v);
    }
    return rules;
  }
  // Peer `from`'s messages say it applies rules up to `rules`. Returns
  // whether that changed what this node knew.
  bool NotePeer(consensus::NodeId from, uint32_t rules) {
    auto it = peers_.find(from);
    if (it == peers_.end() || it->second->load(std::memory_order_relaxed) == rules) return false;
    it->second->store(rules, std::memory_order_relaxed);
    return true;
  }
  // The highest rules an applied command had (Effects::apply_rules_floor).
  void SetFloor(uint32_t floor) { floor_.store(floor, std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kUnheard = UINT32_MAX;
  const uint32_t max_;
  std::map<consensus::NodeId, std::unique_ptr<std::atomic<uint32_t>>> peers_;  // fixed after construction
  std::atomic<uint32_t> floor_{0};
};

}  // namespace kvgo::replication
