// The inputs of a Replica besides peer messages. A Proposal is a write on
// its way: from Submit (or a follower's Forward) to the answer, through the
// Router (propose, hold, park, forward) and the Applier (apply and answer).
// A LeaderRead asks the leader for a read index.
// Not thread-safe; value types, moved between owners.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "consensus/paxos.h"
#include "storage.pb.h"
#include "storage/command_log.h"

namespace kvgo::replication {

struct Proposal {
  storage::pb::Command cmd;
  storage::CommandLog::Callback done;  // called exactly once
  // Refused as "not applied" once this passes without a leader to take it.
  storage::CommandLog::Deadline parked_until{};
  bool forwarded = false;                       // from a follower: never forwarded again
  bool held = false;                            // went through the leader's batching once
  bool bounced = false;                         // refused by a node that no longer leads: wait a tick
  storage::CommandLog::Deadline retry_after{};  // parked: not dispatched again before this
  // Leader, once proposed: the payload handed to the core (the chosen
  // entry is this very object if it is this proposal's value), and for a
  // precomputed write its results.
  std::shared_ptr<const std::string> data = nullptr;
  std::optional<storage::pb::CommandResult> result = std::nullopt;
};

// A read index request on the leader: `done` gets the index to wait for.
struct LeaderRead {
  std::function<void(Status, consensus::Slot)> done;
};

// This leader's proposals in flight, by slot.
using Proposals = std::map<consensus::Slot, Proposal>;

}  // namespace kvgo::replication
