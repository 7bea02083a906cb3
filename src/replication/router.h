// Router: where a write goes from this node. The leader proposes it (in
// batches: while a round is in flight, new writes are held for the next);
// a follower forwards it to the leader it knows, over a live link; with no
// leader or no link, the write is parked until there is one, for at most
// park_limit, and then refused as certainly not applied.
//
// A forwarded write comes back as:
//   - the leader's answer (OK, or the write's own error);
//   - "outcome unknown" (DeadlineExceeded) when the call failed or the
//     leader lost its role with the write in flight: never retried, since
//     it may have been applied;
//   - a bounce ("not the leader", certainly not applied): handed back to
//     the Replica through `repost`, parked for a tick so that this node
//     learns of the new leader, and dispatched again (within parked_until).
//
// Not thread-safe: the Replica's thread makes every call. The transport's
// callbacks use only `repost` and the clock, which must outlive them.
#pragma once

#include <functional>
#include <map>
#include <random>
#include <vector>

#include "common/clock.h"
#include "consensus/paxos.h"
#include "replication/applier.h"
#include "replication/apply_rules.h"
#include "replication/ports.h"
#include "replication/proposal.h"

namespace kvgo::replication {

class Router {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Options {
    consensus::NodeId self = 0;
    Duration tick = std::chrono::milliseconds(100);
    Duration park_limit = std::chrono::seconds(3);
    uint64_t seed = 0;  // of the proposal ids
    // A deliberately broken rule, to prove the simulator catches it: a
    // forwarded write whose call failed (outcome unknown) is retried.
    bool testing_retry_unknown = false;
  };
  // Thread-safe: hands a bounced write back to the Replica's thread (or
  // answers it, once the Replica stopped).
  using Repost = std::function<void(Proposal)>;

  Router(Options options, PeerTransport* transport, Clock* clock, Applier* applier, ApplyRules* rules, Repost repost)
      : options_(options),
        transport_(transport),
        clock_(clock),
        applier_(applier),
        rules_(rules),
        repost_(std::move(repost)),
        ids_(options.seed) {}

  // Proposes, holds, forwards or parks `p`.
  void Dispatch(consensus::Node& node, Proposal p);
  // Dispatches the held writes once their round is chosen, kMaxBatchDelay
  // passed, or `force`.
  void FlushHeld(consensus::Node& node, bool force);
  // Dispatches the parked writes whose wait is over.
  void RetryParked(consensus::Node& node);
  // Sends the writes Dispatch queued for the leader: one call per leader
  // and Replica round (a call carries at most limits::kPeerBatchBytes).
  void FlushForwards();
  // Answers every write this router holds with `down` (in flight at the
  // leader: `unknown`).
  void FailAll(const Status& down, const Status& unknown);

  // This leader's proposals in flight (the Applier answers them).
  Proposals& proposed() { return proposed_; }
  // Leader: some own proposal is not chosen yet.
  bool RoundInFlight(const consensus::Node& node) const {
    return !proposed_.empty() && proposed_.rbegin()->first > node.commit();
  }
  // When FlushHeld must run next (TimePoint::max() if nothing is held).
  TimePoint HeldDeadline() const;

  uint64_t forwarded() const { return forwarded_; }
  uint64_t forward_calls() const { return forward_calls_; }

 private:
  void ForwardGroup(consensus::NodeId leader, std::vector<Proposal> ps);

  const Options options_;
  PeerTransport* const transport_;
  Clock* const clock_;
  Applier* const applier_;
  ApplyRules* const rules_;
  const Repost repost_;
  // Ids of this node's proposals: random 64-bit values, so that another
  // leader's command, or an earlier incarnation's, chosen in a slot this
  // node proposed to is never mistaken for this node's own (whose client
  // would then hear OK for a write that was not applied).
  std::mt19937_64 ids_;
  Proposals proposed_;
  std::vector<Proposal> held_;  // for the next round
  TimePoint held_since_{};
  std::vector<Proposal> parked_;                                 // waiting for a leader
  std::map<consensus::NodeId, std::vector<Proposal>> forwards_;  // by leader, until FlushForwards
  uint64_t forwarded_ = 0;
  uint64_t forward_calls_ = 0;
};

}  // namespace kvgo::replication
