// SysCmd "SysMetrics": the kvgo console's view of the server's metrics, made
// from the same data as /metrics. Pure function; thread-safe.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

#include "valuedig_tsd.pb.h"

namespace kvgo::server {

// The JSON MetricSet of docs/wire-api.md 7.6 for `req`: one time bucket at
// `now_unix_s` (aligned down to the alignment period) holding the totals
// since the process started. Families: ServiceCall and ServiceLatency (per
// RPC), StorageCall and StorageLatency (group commits), System (memory and
// disk), LogSyncCall and LogSyncLatency (empty: no log sync in kvgo-server's
// replication). Metrics not asked for in a non-empty req.metrics are left out.
std::string SysMetricsJson(const std::vector<prometheus::MetricFamily>& families,
                           const valuedig::tsd::v2::SampleQueryRequest& req, int64_t now_unix_s);

}  // namespace kvgo::server
