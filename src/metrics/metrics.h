// Metrics: every Prometheus metric of kvgo-server (docs: README "Metrics").
// Names follow Prometheus conventions: kvgo_ prefix, base units (seconds,
// bytes), _total counters. No per-key labels: label values come from small
// fixed sets (RPC names, result statuses, auth failure reasons, levels).
//
// Thread-safe: the Observe/Count methods are lock-free atomics on
// pre-created series and may be called from any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kvgo::metrics {

enum class Rpc { kQuery = 0, kCommit, kBatchCommit, kSysCmd, kCount };
const char* RpcName(Rpc rpc);

// Why a call was refused before it ran (label reason of
// kvgo_requests_refused_total): a limit of README "Limits" was hit.
enum class Refusal {
  kDraining = 0,     // the server is shutting down (UNAVAILABLE)
  kMessageTooLarge,  // request above 12 MiB (RESOURCE_EXHAUSTED)
  kInFlight,         // [limits] max_in_flight_requests reached
  kReplyTooLarge,    // the reply would exceed its byte budget
  kTooManyKeys,      // [limits] max_keys_per_request exceeded
  kStalled,          // reply not taken by the client within the deadline
  kCount
};
const char* RefusalName(Refusal r);

// Why a connection was closed as soon as it was accepted (label reason of
// kvgo_connections_refused_total).
enum class ConnRefusal { kLimit = 0, kNoFileDescriptors, kCount };

class Metrics {
 public:
  Metrics();

  // One answered Public RPC. `status` is the kvspec result status (0-6).
  void ObserveRequest(Rpc rpc, uint64_t status, double seconds, size_t request_bytes, size_t response_bytes);
  // A call refused before it ran.
  void CountRefused(Rpc rpc, Refusal why);
  // Connections: open now (the gauge), and one refused at accept.
  void SetConnections(size_t open);
  void CountConnectionRefused(ConnRefusal why);
  // An authentication or authorisation failure; `reason` is the message
  // after "Access Denied : " (mapped onto a small label set).
  void CountAuthFailure(std::string_view reason);
  // One durable group of `commands` commands whose write+fsync took `seconds`.
  void ObserveGroup(size_t commands, double seconds);
  void CountConfigReload(bool ok);
  void CountPurged(size_t keys);

  // Adds a collector whose metrics are computed at scrape time.
  void AddCollectable(std::shared_ptr<prometheus::Collectable> c);

  // Everything in the Prometheus text exposition format.
  std::string Serialize() const;
  // Everything, for SysMetrics and tests.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  static constexpr size_t kStatuses = 7;  // kvspec status 0..6
  std::array<std::array<prometheus::Counter*, kStatuses>, static_cast<size_t>(Rpc::kCount)> requests_{};
  std::array<std::array<prometheus::Counter*, static_cast<size_t>(Refusal::kCount)>, static_cast<size_t>(Rpc::kCount)>
      refused_{};
  prometheus::Gauge* connections_ = nullptr;
  std::array<prometheus::Counter*, static_cast<size_t>(ConnRefusal::kCount)> connections_refused_{};
  std::array<prometheus::Histogram*, static_cast<size_t>(Rpc::kCount)> latency_{};
  std::array<prometheus::Counter*, static_cast<size_t>(Rpc::kCount)> bytes_in_{};
  std::array<prometheus::Counter*, static_cast<size_t>(Rpc::kCount)> bytes_out_{};
  prometheus::Family<prometheus::Counter>* auth_failures_ = nullptr;
  prometheus::Histogram* fsync_ = nullptr;
  prometheus::Histogram* group_size_ = nullptr;
  prometheus::Counter* reload_ok_ = nullptr;
  prometheus::Counter* reload_error_ = nullptr;
  prometheus::Gauge* reload_last_ok_ = nullptr;
  prometheus::Counter* purged_ = nullptr;
};

// Maps an auth failure message onto the label value of
// kvgo_auth_failures_total{reason}.
std::string AuthFailureReason(std::string_view message);

}  // namespace kvgo::metrics
