// CallTracker: admission and memory budgets of Public API calls (config
// [limits], README "Limits"), and the watchdog that cancels replies a
// client does not take.
//
// Every call gets a TrackedCall, its gRPC reactor, from Begin(). Begin
// refuses a call (answers it at once) when the request is above the 12 MiB
// wire limit, the server is draining, max_in_flight_requests calls are
// running, or the request's bytes do not fit the memory budgets. While the
// call runs, its reply takes bytes from three budgets as it is built
// (TrackedCall::Take): its own (the message limit), its connection's
// (max_connection_call_bytes) and the server's (max_call_bytes). They are
// given back when gRPC is done with the call (OnDone): once the reply was
// sent, or the call cancelled. A reply the client has not taken
// reply_timeout_ms after it was ready is cancelled (a client that stops
// reading would otherwise pin its replies for as long as it stays
// connected).
//
// Thread-safe.
#pragma once

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/strings/match.h"
#include "common/kvspec.h"
#include "metrics/metrics.h"
#include "storage/query.h"

namespace kvgo::server {

struct CallLimits {
  size_t max_in_flight = 10000;
  size_t max_call_bytes = size_t{256} << 20;
  size_t max_connection_call_bytes = size_t{64} << 20;
  std::chrono::milliseconds reply_timeout{30000};
};

class CallTracker;

class TrackedCall final : public grpc::ServerUnaryReactor, public storage::ReplyBudget {
 public:
  // False if Begin refused the call (it is answered already: do nothing
  // more with it).
  bool admitted() const { return admitted_; }
  metrics::Rpc rpc() const { return rpc_; }
  grpc::CallbackServerContext* context() const { return ctx_; }

  // storage::ReplyBudget: takes an item of `item_bytes` from the reply's
  // budgets, or returns InvalidArgument (this reply would exceed the
  // message limit) or ResourceExhausted (the connection's or the server's
  // budget is spent).
  Status Take(size_t item_bytes) override;
  // The first refusal of Take (OK if none): a reply of several parts (a
  // BatchCommit) stops at it.
  const Status& refusal() const { return refusal_; }

  // Answers with `response` (gRPC OK, the result in-band) and records the
  // call's metrics. Call once.
  template <typename Response>
  void Reply(const Response& response);

  void OnDone() override;
  void OnCancel() override {}

 private:
  friend class CallTracker;
  struct Conn {
    std::atomic<size_t> bytes{0};
    size_t calls = 0;  // GUARDED_BY(CallTracker::mu_)
  };
  TrackedCall(CallTracker* tracker, grpc::CallbackServerContext* ctx, metrics::Rpc rpc, size_t request_bytes);
  void Refuse(const grpc::Status& status, metrics::Refusal why);
  // Takes `bytes` of the connection's and the server's budgets only.
  Status TakeShared(size_t bytes);
  void Answered(uint64_t status, const std::string& message, size_t response_bytes);

  CallTracker* const tracker_;
  grpc::CallbackServerContext* const ctx_;
  const metrics::Rpc rpc_;
  const std::chrono::steady_clock::time_point start_;
  const size_t request_bytes_;
  bool admitted_ = false;
  std::shared_ptr<Conn> conn_;
  std::string conn_key_;
  size_t reply_bytes_ = 0;  // taken for the reply itself (the message limit)
  size_t held_bytes_ = 0;   // taken from the shared budgets, request included
  Status refusal_;
  // Once answered: its place in the tracker's list of replies not yet taken.
  // (Guarded by tracker_->mu_; CallTracker is incomplete here, so the
  // analysis cannot name it.)
  bool in_answered_ = false;
  std::list<TrackedCall*>::iterator answered_it_;
  std::chrono::steady_clock::time_point answered_at_;
};

class CallTracker {
 public:
  // REQUIRES: metrics (may be null) outlives the tracker.
  CallTracker(CallLimits limits, metrics::Metrics* metrics);
  ~CallTracker();  // stops the watchdog; REQUIRES: no call in flight

  // The reactor of a new call; see admitted().
  TrackedCall* Begin(grpc::CallbackServerContext* ctx, metrics::Rpc rpc, size_t request_bytes);

  // From now on new calls are refused with UNAVAILABLE (clients retry
  // elsewhere); calls already admitted run to the end.
  void StartDraining() { draining_.store(true); }
  // Calls admitted and not done yet (their replies may still be sending).
  size_t in_flight() const { return in_flight_.load(); }
  // Bytes the running calls hold (requests and replies).
  size_t held_bytes() const { return held_.load(); }

 private:
  friend class TrackedCall;
  void Answered(TrackedCall* call);
  void Done(TrackedCall* call);
  void Watchdog();

  const CallLimits limits_;
  metrics::Metrics* const metrics_;
  std::atomic<bool> draining_{false};
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> held_{0};

  absl::Mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<TrackedCall::Conn>> conns_ ABSL_GUARDED_BY(mu_);
  std::list<TrackedCall*> answered_ ABSL_GUARDED_BY(mu_);  // oldest first
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar cv_;
  std::thread watchdog_;
};

template <typename Response>
void TrackedCall::Reply(const Response& response) {
  Answered(response.status(), response.message(), response.ByteSizeLong());
  Finish(grpc::Status::OK);
}

}  // namespace kvgo::server
