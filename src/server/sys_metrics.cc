#include "server/sys_metrics.h"

#include <nlohmann/json.hpp>

namespace kvgo::server {

using nlohmann::json;

namespace {

const prometheus::MetricFamily* Find(const std::vector<prometheus::MetricFamily>& fs, const std::string& name) {
  for (const auto& f : fs) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string Label(const prometheus::ClientMetric& m, const std::string& name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return "";
}

json Point(double count, double sum, double value, int64_t t) {
  json p = json::object();
  if (count != 0) p["count"] = static_cast<int64_t>(count);
  if (sum != 0) p["sum"] = static_cast<int64_t>(sum);
  if (value != 0) p["value"] = static_cast<int64_t>(value);
  p["time"] = t;
  return p;
}

json Metric(const std::string& name, int type, const std::string& label_value, json point, const std::string& unit) {
  return {{"name", name},
          {"type", type},
          {"labels", json::array({{{"name", "name"}, {"value", label_value}}})},
          {"points", json::array({std::move(point)})},
          {"unit", unit}};
}

}  // namespace

std::string SysMetricsJson(const std::vector<prometheus::MetricFamily>& families,
                           const valuedig::tsd::v2::SampleQueryRequest& req, int64_t now_unix_s) {
  const int64_t period = req.alignment_period() >= 10 ? req.alignment_period() : 60;
  const int64_t range = req.last_time_range() > 0 ? req.last_time_range() : 600;
  const int64_t t = now_unix_s - now_unix_s % period;
  auto wanted = [&](const std::string& name) { return req.metrics().empty() || req.metrics().count(name) > 0; };
  constexpr int kGauge = 1;
  constexpr int kDelta = 2;

  json metrics = json::array();
  json fams = json::array();
  auto family = [&](const std::string& name, const std::string& unit, json list) {
    if (!wanted(name)) return;
    for (auto& m : list) metrics.push_back(m);
    fams.push_back({{"name", name}, {"metrics", list}, {"unit", unit}});
  };

  json calls = json::array();
  json lat = json::array();
  if (const auto* f = Find(families, "kvgo_requests_total")) {
    std::map<std::string, double> per_rpc;
    for (const auto& m : f->metric) per_rpc[Label(m, "rpc")] += m.counter.value;
    for (const auto& [rpc, n] : per_rpc) calls.push_back(Metric("ServiceCall", kDelta, rpc, Point(n, 0, 0, t), "call"));
  }
  if (const auto* f = Find(families, "kvgo_request_duration_seconds")) {
    for (const auto& m : f->metric) {
      lat.push_back(Metric("ServiceLatency", kDelta, Label(m, "rpc"),
                           Point(static_cast<double>(m.histogram.sample_count), m.histogram.sample_sum * 1e6, 0, t),
                           "us"));
    }
  }
  family("ServiceCall", "call", calls);
  family("ServiceLatency", "us", lat);

  json scalls = json::array();
  json slat = json::array();
  if (const auto* f = Find(families, "kvgo_fsync_duration_seconds"); f && !f->metric.empty()) {
    const auto& h = f->metric[0].histogram;
    scalls.push_back(
        Metric("StorageCall", kDelta, "Write", Point(static_cast<double>(h.sample_count), 0, 0, t), "call"));
    slat.push_back(Metric("StorageLatency", kDelta, "Write",
                          Point(static_cast<double>(h.sample_count), h.sample_sum * 1e6, 0, t), "us"));
  }
  family("StorageCall", "call", scalls);
  family("StorageLatency", "us", slat);

  json sys = json::array();
  for (const auto& [metric, label] : std::vector<std::pair<std::string, std::string>>{
           {"process_resident_memory_bytes", "mem"}, {"kvgo_disk_bytes", "disk"}}) {
    if (const auto* f = Find(families, metric); f && !f->metric.empty()) {
      sys.push_back(Metric("System", kGauge, label, Point(0, 0, f->metric[0].gauge.value, t), "byte"));
    }
  }
  family("System", "byte", sys);
  family("LogSyncCall", "call", json::array());
  family("LogSyncLatency", "us", json::array());

  json out = {{"time_buckets", json::array({t})},
              {"metrics", metrics},
              {"families", fams},
              {"status", {{"alignment_period", period}, {"last_time_range", range}}}};
  return out.dump();
}

}  // namespace kvgo::server
