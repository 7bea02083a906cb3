#include "replication/router.h"

#include <spdlog/spdlog.h>

#include "common/limits.h"

namespace kvgo::replication {

namespace {

// Leader batching (see Dispatch): a write waits at most this long for the
// round in flight, and a round carries at most this many new writes.
constexpr auto kMaxBatchDelay = std::chrono::microseconds(1500);
constexpr size_t kMaxBatch = 1024;

// A forwarded write's outcome, from the leader's reply (any thread).
void FinishForward(const Router::Repost& repost, Clock* clock, bool retry_unknown, Proposal p, const std::string& addr,
                   const Status& st, const peer::pb::ForwardReply& reply) {
  if (!st.ok() && retry_unknown && clock->SteadyNow() < p.parked_until) {
    p.bounced = true;
    return repost(std::move(p));
  }
  if (!st.ok()) {
    return p.done(absl::DeadlineExceededError("forwarding the write to the leader " + addr + " failed (" +
                                              std::string(st.message()) + "); its outcome is unknown"));
  }
  if (reply.error().empty()) return p.done(reply.result());
  if (reply.unknown()) return p.done(absl::DeadlineExceededError(reply.error()));
  // Certainly not applied (that node no longer leads): try the leader this
  // node learns of next, within the same time limit as a parked write.
  if (clock->SteadyNow() < p.parked_until) {
    p.bounced = true;
    return repost(std::move(p));
  }
  p.done(absl::UnavailableError(reply.error()));
}

}  // namespace

Router::TimePoint Router::HeldDeadline() const {
  return held_.empty() ? TimePoint::max() : held_since_ + kMaxBatchDelay;
}

void Router::Dispatch(consensus::Node& node, Proposal p) {
  if (node.role() == consensus::Role::kLeader) {
    if (!p.held && RoundInFlight(node)) {
      // A round is in flight: batch this write into the next one, which
      // starts when the round is chosen (or kMaxBatchDelay passed). Fewer,
      // larger rounds cost fewer fsyncs and messages on every node.
      if (held_.empty()) held_since_ = clock_->SteadyNow();
      p.held = true;
      held_.push_back(std::move(p));
      if (held_.size() >= kMaxBatch) FlushHeld(node, true);
      return;
    }
    uint64_t id = 0;
    while (id == 0) id = ids_();  // 0 = no id
    p.cmd.set_proposal_id(id);
    // Rules every member can apply: a rolling upgrade switches to newer
    // rules only once the last member runs a version that knows them.
    p.cmd.set_apply_rules(rules_->ForProposal());
    applier_->Speculate(node, p);
    p.data = std::make_shared<const std::string>(p.cmd.SerializeAsString());
    const consensus::Slot slot = node.Propose(p.data);
    if (slot == 0) {
      applier_->EndSpeculation();
      return p.done(absl::UnavailableError("not the leader"));
    }
    proposed_.emplace(slot, std::move(p));
    return;
  }
  if (p.forwarded) {
    // No second hop: the follower that forwarded it answers its client.
    return p.done(absl::UnavailableError("this node is not the leader (any more); retry"));
  }
  const consensus::NodeId leader = node.leader();
  const bool known = leader != 0 && leader != options_.self && !transport_->Addr(leader).empty();
  const auto now = clock_->SteadyNow();
  if (!known || !transport_->Reachable(leader) || p.bounced) {
    if (p.bounced) p.retry_after = now + options_.tick;  // let this node learn of the new leader
    p.bounced = false;
    // No leader, or no connection to it (it died, restarts or is cut off): a
    // forward now would fail before reaching it, or worse, reach it with
    // an outcome we could not tell. Wait for an election or the
    // reconnection (RetryParked), up to park_limit; then the write is
    // refused, certainly not applied.
    if (p.parked_until == storage::CommandLog::Deadline{}) p.parked_until = now + options_.park_limit;
    if (p.parked_until <= now) {
      return p.done(absl::UnavailableError(!known ? "no leader: the cluster is electing one or has no majority; retry"
                                                  : "the leader " + transport_->Addr(leader) +
                                                        " is unreachable from this node; retry"));
    }
    parked_.push_back(std::move(p));
    return;
  }
  forwarded_++;
  if (p.parked_until == storage::CommandLog::Deadline{}) p.parked_until = now + options_.park_limit;
  forwards_[leader].push_back(std::move(p));
}

void Router::FlushHeld(consensus::Node& node, bool force) {
  if (held_.empty()) return;
  if (!force && RoundInFlight(node) && clock_->SteadyNow() - held_since_ < kMaxBatchDelay) return;
  std::vector<Proposal> held;
  held.swap(held_);
  for (auto& p : held) Dispatch(node, std::move(p));
}

void Router::RetryParked(consensus::Node& node) {
  if (parked_.empty()) return;
  const auto now = clock_->SteadyNow();
  // Dispatch parks them again, or refuses them once parked_until passed.
  std::vector<Proposal> parked;
  parked.swap(parked_);
  for (auto& p : parked) {
    if (p.retry_after > now && p.parked_until > now) {
      parked_.push_back(std::move(p));
    } else {
      Dispatch(node, std::move(p));
    }
  }
}

void Router::FlushForwards() {
  for (auto& [leader, batch] : forwards_) {
    std::vector<Proposal> ps;
    ps.swap(batch);
    // At most kPeerBatchBytes of commands per call (a larger one alone), so
    // that every call fits the peer message limit.
    while (!ps.empty()) {
      size_t take = 0, bytes = 0;
      while (take < ps.size()) {
        const size_t size = ps[take].cmd.ByteSizeLong();
        if (take > 0 && bytes + size > limits::kPeerBatchBytes) break;
        bytes += size;
        take++;
      }
      std::vector<Proposal> group(std::make_move_iterator(ps.begin()), std::make_move_iterator(ps.begin() + take));
      ps.erase(ps.begin(), ps.begin() + take);
      ForwardGroup(leader, std::move(group));
    }
  }
}

void Router::ForwardGroup(consensus::NodeId leader, std::vector<Proposal> ps) {
  forward_calls_++;
  std::vector<storage::pb::Command> cmds;
  cmds.reserve(ps.size());
  for (const auto& p : ps) cmds.push_back(p.cmd);
  transport_->Forward(
      leader, std::move(cmds),
      [repost = repost_, clock = clock_, retry = options_.testing_retry_unknown, ps = std::move(ps),
       addr = transport_->Addr(leader)](Status st, std::vector<peer::pb::ForwardReply> replies) mutable {
        if (st.ok() && replies.size() != ps.size()) {
          st = absl::InternalError("the leader answered " + std::to_string(replies.size()) + " of " +
                                   std::to_string(ps.size()) + " forwarded writes");
        }
        for (size_t i = 0; i < ps.size(); i++) {
          FinishForward(repost, clock, retry, std::move(ps[i]), addr, st,
                        st.ok() ? replies[i] : peer::pb::ForwardReply());
        }
      });
}

void Router::FailAll(const Status& down, const Status& unknown) {
  for (auto& [slot, p] : proposed_) p.done(unknown);
  proposed_.clear();
  for (auto& p : parked_) p.done(down);
  parked_.clear();
  for (auto& p : held_) p.done(down);
  held_.clear();
  for (auto& [leader, batch] : forwards_) {
    for (auto& p : batch) p.done(down);
  }
  forwards_.clear();
}

}  // namespace kvgo::replication
