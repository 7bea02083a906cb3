#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace kvgo::metrics {

namespace {

const char* const kStatusNames[] = {"unset", "ok", "error", "not_found", "client_error", "server_error", "unauth"};

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

const char* RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kQuery:
      return "Query";
    case Rpc::kCommit:
      return "Commit";
    case Rpc::kBatchCommit:
      return "BatchCommit";
    case Rpc::kSysCmd:
      return "SysCmd";
    default:
      return "unknown";
  }
}

const char* RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kDraining:
      return "draining";
    case Refusal::kMessageTooLarge:
      return "message_too_large";
    case Refusal::kInFlight:
      return "in_flight_limit";
    case Refusal::kReplyTooLarge:
      return "reply_too_large";
    case Refusal::kTooManyKeys:
      return "too_many_keys";
    case Refusal::kStalled:
      return "stalled_reply";
    default:
      return "unknown";
  }
}

std::string AuthFailureReason(std::string_view m) {
  if (m.find("no auth token found") != std::string_view::npos) return "missing_token";
  if (m.find("invalid request time") != std::string_view::npos) return "expired";
  if (m.find("no AccessKey found") != std::string_view::npos) return "unknown_key";
  if (m.find("sign denied") != std::string_view::npos) return "bad_signature";
  if (m.find("access_token not found") != std::string_view::npos ||
      m.find("invalid payload data") != std::string_view::npos ||
      m.find("payload/access_key") != std::string_view::npos) {
    return "malformed_token";
  }
  return "permission";
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& requests = prometheus::BuildCounter()
                       .Name("kvgo_requests_total")
                       .Help("Public API calls answered, by RPC and kvspec result status")
                       .Register(*registry_);
  auto& refused = prometheus::BuildCounter()
                      .Name("kvgo_requests_refused_total")
                      .Help("Public API calls refused before they ran (a limit, or shutting down), by RPC and reason")
                      .Register(*registry_);
  auto& latency = prometheus::BuildHistogram()
                      .Name("kvgo_request_duration_seconds")
                      .Help("Public API call latency inside the server, by RPC")
                      .Register(*registry_);
  auto& bytes_in = prometheus::BuildCounter()
                       .Name("kvgo_request_bytes_total")
                       .Help("Bytes of Public API requests (protobuf size), by RPC")
                       .Register(*registry_);
  auto& bytes_out = prometheus::BuildCounter()
                        .Name("kvgo_response_bytes_total")
                        .Help("Bytes of Public API responses (protobuf size), by RPC")
                        .Register(*registry_);
  for (size_t r = 0; r < static_cast<size_t>(Rpc::kCount); r++) {
    const std::string name = RpcName(static_cast<Rpc>(r));
    for (size_t s = 0; s < kStatuses; s++) {
      requests_[r][s] = &requests.Add({{"rpc", name}, {"status", kStatusNames[s]}});
    }
    for (size_t why = 0; why < static_cast<size_t>(Refusal::kCount); why++) {
      refused_[r][why] = &refused.Add({{"rpc", name}, {"reason", RefusalName(static_cast<Refusal>(why))}});
    }
    latency_[r] = &latency.Add({{"rpc", name}}, LatencyBuckets());
    bytes_in_[r] = &bytes_in.Add({{"rpc", name}});
    bytes_out_[r] = &bytes_out.Add({{"rpc", name}});
  }
  connections_ = &prometheus::BuildGauge()
                      .Name("kvgo_connections")
                      .Help("Client and peer connections open on the gRPC port")
                      .Register(*registry_)
                      .Add({});
  auto& conn_refused = prometheus::BuildCounter()
                           .Name("kvgo_connections_refused_total")
                           .Help(
                               "Connections closed as soon as accepted: limit ([limits] max_connections reached) or "
                               "no_file_descriptors (the open-file limit)")
                           .Register(*registry_);
  connections_refused_[static_cast<size_t>(ConnRefusal::kLimit)] = &conn_refused.Add({{"reason", "limit"}});
  connections_refused_[static_cast<size_t>(ConnRefusal::kNoFileDescriptors)] =
      &conn_refused.Add({{"reason", "no_file_descriptors"}});
  auth_failures_ = &prometheus::BuildCounter()
                        .Name("kvgo_auth_failures_total")
                        .Help("Requests refused by authentication or authorisation, by reason")
                        .Register(*registry_);
  for (const char* reason :
       {"missing_token", "malformed_token", "expired", "unknown_key", "bad_signature", "permission"}) {
    auth_failures_->Add({{"reason", reason}});
  }
  fsync_ = &prometheus::BuildHistogram()
                .Name("kvgo_fsync_duration_seconds")
                .Help("Time to write and fsync one group commit to the LevelDB log")
                .Register(*registry_)
                .Add({}, LatencyBuckets());
  group_size_ =
      &prometheus::BuildHistogram()
           .Name("kvgo_group_commit_size")
           .Help("Commands written per fsync (group commit batch size)")
           .Register(*registry_)
           .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096});
  auto& reloads = prometheus::BuildCounter()
                      .Name("kvgo_config_reloads_total")
                      .Help("Config reloads (SIGHUP), by result")
                      .Register(*registry_);
  reload_ok_ = &reloads.Add({{"result", "ok"}});
  reload_error_ = &reloads.Add({{"result", "error"}});
  // As Prometheus's own prometheus_config_last_reload_successful: an alert
  // on it lasts as long as the config on disk is broken.
  reload_last_ok_ = &prometheus::BuildGauge()
                         .Name("kvgo_config_last_reload_successful")
                         .Help(
                             "1 if the config was valid at start and at the last SIGHUP, 0 if the last SIGHUP "
                             "found an invalid config (the server runs on the previous one)")
                         .Register(*registry_)
                         .Add({});
  reload_last_ok_->Set(1);
  purged_ = &prometheus::BuildCounter()
                 .Name("kvgo_ttl_purged_keys_total")
                 .Help("Expired keys removed from disk by the TTL purger")
                 .Register(*registry_)
                 .Add({});
  prometheus::BuildGauge()
      .Name("kvgo_build_info")
      .Help("Build information; the value is always 1")
      .Register(*registry_)
      .Add({{"version", KVGO_VERSION}})
      .Set(1);
}

void Metrics::ObserveRequest(Rpc rpc, uint64_t status, double seconds, size_t request_bytes, size_t response_bytes) {
  const size_t r = static_cast<size_t>(rpc);
  requests_[r][status < kStatuses ? status : 2]->Increment();
  latency_[r]->Observe(seconds);
  bytes_in_[r]->Increment(static_cast<double>(request_bytes));
  bytes_out_[r]->Increment(static_cast<double>(response_bytes));
}

void Metrics::CountRefused(Rpc rpc, Refusal why) {
  refused_[static_cast<size_t>(rpc)][static_cast<size_t>(why)]->Increment();
}

void Metrics::SetConnections(size_t open) { connections_->Set(static_cast<double>(open)); }

void Metrics::CountConnectionRefused(ConnRefusal why) { connections_refused_[static_cast<size_t>(why)]->Increment(); }

void Metrics::CountAuthFailure(std::string_view reason) {
  auth_failures_->Add({{"reason", AuthFailureReason(reason)}}).Increment();
}

void Metrics::ObserveGroup(size_t commands, double seconds) {
  fsync_->Observe(seconds);
  group_size_->Observe(static_cast<double>(commands));
}

void Metrics::CountConfigReload(bool ok) {
  (ok ? reload_ok_ : reload_error_)->Increment();
  reload_last_ok_->Set(ok ? 1 : 0);
}

void Metrics::CountPurged(size_t keys) { purged_->Increment(static_cast<double>(keys)); }

void Metrics::AddCollectable(std::shared_ptr<prometheus::Collectable> c) { collectables_.push_back(std::move(c)); }

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> all = registry_->Collect();
  for (const auto& c : collectables_) {
    auto more = c->Collect();
    all.insert(all.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  return all;
}

std::string Metrics::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

}  // namespace kvgo::metrics
