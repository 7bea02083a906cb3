#include "server/call_tracker.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/limits.h"

namespace kvgo::server {

namespace {

constexpr char kDenied[] = "Access Denied";

// Room in a reply for its own fields (status, message, next, log_version;
// a BatchResult's message is cut to fit): limits::kMaxWriterBytes leaves
// more than this, so the largest object can always be read alone.
constexpr size_t kReplyEnvelope = 16 << 10;
// An item's tag and length inside the reply.
constexpr size_t kItemFraming = 6;
static_assert(limits::kMaxWriterBytes + 1024 + kItemFraming + kReplyEnvelope <=
              static_cast<size_t>(kvspec::kMaxMessageBytes));

}  // namespace

TrackedCall::TrackedCall(CallTracker* tracker, grpc::CallbackServerContext* ctx, metrics::Rpc rpc, size_t request_bytes)
    : tracker_(tracker),
      ctx_(ctx),
      rpc_(rpc),
      start_(std::chrono::steady_clock::now()),
      request_bytes_(request_bytes) {}

void TrackedCall::Refuse(const grpc::Status& status, metrics::Refusal why) {
  if (tracker_->metrics_ != nullptr) tracker_->metrics_->CountRefused(rpc_, why);
  Finish(status);
}

Status TrackedCall::TakeShared(size_t bytes) {
  const CallLimits& l = tracker_->limits_;
  if (conn_->bytes.fetch_add(bytes) + bytes > l.max_connection_call_bytes) {
    conn_->bytes.fetch_sub(bytes);
    return absl::ResourceExhaustedError(
        absl::StrCat("server busy: this connection's calls hold more than [limits] max_connection_call_bytes (",
                     l.max_connection_call_bytes, ") in requests and replies not yet taken; retry"));
  }
  if (tracker_->held_.fetch_add(bytes) + bytes > l.max_call_bytes) {
    tracker_->held_.fetch_sub(bytes);
    conn_->bytes.fetch_sub(bytes);
    return absl::ResourceExhaustedError(
        absl::StrCat("server busy: running calls hold more than [limits] max_call_bytes (", l.max_call_bytes,
                     ") in requests and replies not yet taken; retry"));
  }
  held_bytes_ += bytes;
  return absl::OkStatus();
}

Status TrackedCall::Take(size_t item_bytes) {
  const size_t bytes = item_bytes + kItemFraming;
  if (reply_bytes_ + bytes + kReplyEnvelope > static_cast<size_t>(kvspec::kMaxMessageBytes)) {
    refusal_ = absl::InvalidArgumentError(
        absl::StrCat("the reply would exceed the 12 MiB message limit (", reply_bytes_ + bytes,
                     " bytes of items): ask for fewer keys per call, or page with limit_size"));
    return refusal_;
  }
  if (Status s = TakeShared(bytes); !s.ok()) {
    refusal_ = s;
    return s;
  }
  reply_bytes_ += bytes;
  return absl::OkStatus();
}

void TrackedCall::Answered(uint64_t status, const std::string& message, size_t response_bytes) {
  if (metrics::Metrics* m = tracker_->metrics_) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    m->ObserveRequest(rpc_, status, secs, request_bytes_, response_bytes);
    if (status == kvspec::kStatusClientError && absl::StartsWith(message, kDenied)) {
      m->CountAuthFailure(message.size() > sizeof(kDenied) + 2 ? message.substr(sizeof(kDenied) + 2) : "permission");
    }
  }
  tracker_->Answered(this);
}

void TrackedCall::OnDone() {
  tracker_->Done(this);
  delete this;
}

CallTracker::CallTracker(CallLimits limits, metrics::Metrics* metrics) : limits_(limits), metrics_(metrics) {
  watchdog_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-call-watch");
    Watchdog();
  });
}

CallTracker::~CallTracker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  cv_.SignalAll();
  watchdog_.join();
}

TrackedCall* CallTracker::Begin(grpc::CallbackServerContext* ctx, metrics::Rpc rpc, size_t request_bytes) {
  auto* call = new TrackedCall(this, ctx, rpc, request_bytes);
  // In cluster mode the port takes peer messages of up to
  // limits::kMaxPeerMessageBytes; a client's stay within the wire limit.
  if (request_bytes > static_cast<size_t>(kvspec::kMaxMessageBytes)) {
    call->Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("Received message larger than max (", request_bytes, " vs. ",
                                           kvspec::kMaxMessageBytes, ")")),
                 metrics::Refusal::kMessageTooLarge);
    return call;
  }
  if (draining_.load()) {
    call->Refuse(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"), metrics::Refusal::kDraining);
    return call;
  }
  if (in_flight_.fetch_add(1) >= limits_.max_in_flight) {
    in_flight_.fetch_sub(1);
    call->Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("server busy: ", limits_.max_in_flight,
                                           " calls in flight ([limits] max_in_flight_requests); retry")),
                 metrics::Refusal::kInFlight);
    return call;
  }
  call->admitted_ = true;
  call->conn_key_ = ctx->peer();
  {
    absl::MutexLock lock(&mu_);
    auto& conn = conns_[call->conn_key_];
    if (conn == nullptr) conn = std::make_shared<TrackedCall::Conn>();
    conn->calls++;
    call->conn_ = conn;
  }
  if (Status s = call->TakeShared(request_bytes); !s.ok()) {
    // Not admitted after all: the handler must not answer it again.
    Done(call);
    call->admitted_ = false;
    call->Refuse(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, std::string(s.message())),
                 metrics::Refusal::kReplyTooLarge);
  }
  return call;
}

void CallTracker::Answered(TrackedCall* call) {
  if (!call->admitted_) return;
  absl::MutexLock lock(&mu_);
  call->answered_at_ = std::chrono::steady_clock::now();
  call->answered_it_ = answered_.insert(answered_.end(), call);
  call->in_answered_ = true;
}

void CallTracker::Done(TrackedCall* call) {
  if (!call->admitted_) return;
  held_.fetch_sub(call->held_bytes_);
  call->conn_->bytes.fetch_sub(call->held_bytes_);
  {
    absl::MutexLock lock(&mu_);
    if (call->in_answered_) answered_.erase(call->answered_it_);
    if (--call->conn_->calls == 0) conns_.erase(call->conn_key_);
  }
  in_flight_.fetch_sub(1);
}

void CallTracker::Watchdog() {
  const auto period = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(50), limits_.reply_timeout / 4);
  absl::MutexLock lock(&mu_);
  for (;;) {
    const absl::Time until = absl::Now() + absl::FromChrono(period);
    while (!stopping_ && !cv_.WaitWithDeadline(&mu_, until)) {
    }
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    std::vector<TrackedCall*> cancelled;
    while (!answered_.empty() && now - answered_.front()->answered_at_ >= limits_.reply_timeout) {
      TrackedCall* call = answered_.front();
      answered_.pop_front();
      // Under mu_, Done() cannot run for it (its OnDone runs on gRPC's
      // executor, never inside TryCancel): the context is alive.
      call->ctx_->TryCancel();
      if (metrics_ != nullptr) metrics_->CountRefused(call->rpc_, metrics::Refusal::kStalled);
      cancelled.push_back(call);
    }
    // Until their OnDone, at the back: cancelled again a timeout later if
    // still there (the list stays in answered_at_ order).
    for (TrackedCall* call : cancelled) {
      call->answered_at_ = now;
      call->answered_it_ = answered_.insert(answered_.end(), call);
    }
  }
}

}  // namespace kvgo::server
