// PublicService: lynkdb.kvspec.v2.Public over gRPC (Query, Commit,
// BatchCommit, SysCmd), wire-compatible with the kvgo Go SDK. Every failure
// is answered in-band (gRPC OK, ObjectResult.status 4/5) as the SDK
// expects; no request can crash the server.
//
// It uses gRPC's callback API: no handler blocks a thread. Reads are
// answered inline; writes complete from the Committer's callback once
// durable; LogRange long-polls park in LogWaiters.
//
// Thread-safe: gRPC calls the handlers on many threads at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <string>

#include "auth/keyring.h"
#include "common/clock.h"
#include "kvspec.grpc.pb.h"
#include "metrics/metrics.h"
#include "metrics/node_collector.h"
#include "server/log_waiters.h"
#include "storage/catalog.h"
#include "storage/command_log.h"
#include "storage/query.h"

namespace kvgo::server {

struct ServiceContext {
  storage::Store* store = nullptr;
  storage::Catalog* catalog = nullptr;
  storage::CommandLog* log = nullptr;  // Committer (single node) or Replicator
  storage::QueryEngine* query = nullptr;
  auth::Keyring* keyring = nullptr;
  LogWaiters* waiters = nullptr;
  metrics::Metrics* metrics = nullptr;  // may be null (no metrics)
  Clock* clock = nullptr;
  std::string node_id;    // 16 hex characters
  std::string node_addr;  // the bind address
  int64_t started_unix_s = 0;
  // [storage] quota_bytes: past it, writes other than deletes are refused
  // (0 = no quota).
  uint64_t quota_bytes = 0;
  // [storage] min_free_bytes (0 = no check).
  uint64_t min_free_bytes = 0;
  // The replication view for SysStatus (may be empty: no "cluster" field).
  std::function<metrics::ClusterView()> cluster;
};

class PublicService final : public lynkdb::kvspec::v2::Public::CallbackService {
 public:
  // REQUIRES: every pointer in ctx outlives the service.
  explicit PublicService(ServiceContext ctx) : ctx_(std::move(ctx)) {}

  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context, const lynkdb::kvspec::v2::ObjectReader* request,
                                  lynkdb::kvspec::v2::ObjectResult* response) override;
  grpc::ServerUnaryReactor* Commit(grpc::CallbackServerContext* context,
                                   const lynkdb::kvspec::v2::ObjectWriter* request,
                                   lynkdb::kvspec::v2::ObjectResult* response) override;
  grpc::ServerUnaryReactor* BatchCommit(grpc::CallbackServerContext* context,
                                        const lynkdb::kvspec::v2::BatchRequest* request,
                                        lynkdb::kvspec::v2::BatchResult* response) override;
  grpc::ServerUnaryReactor* SysCmd(grpc::CallbackServerContext* context,
                                   const lynkdb::kvspec::v2::SysCmdRequest* request,
                                   lynkdb::kvspec::v2::ObjectResult* response) override;

  // From now on new calls are refused with UNAVAILABLE (clients retry
  // elsewhere); calls already accepted run to the end.
  void StartDraining();
  // Calls accepted and not yet answered.
  int in_flight() const;

 private:
  struct CallInfo {
    metrics::Rpc rpc;
    std::chrono::steady_clock::time_point start;
    size_t request_bytes;
  };
  // Counts the call in, or finishes it: RESOURCE_EXHAUSTED for a request
  // above the wire limit, UNAVAILABLE when draining.
  bool Enter(grpc::ServerUnaryReactor* reactor, const CallInfo& call);
  // Answers the call (its response already filled), records its metrics
  // and counts it out.
  template <typename Response>
  void Finish(grpc::ServerUnaryReactor* reactor, const CallInfo& call, const Response& response) const;

  struct BatchState;
  using ResultCallback = std::function<void(lynkdb::kvspec::v2::ObjectResult)>;
  using ResultsCallback = std::function<void(std::vector<lynkdb::kvspec::v2::ObjectResult>)>;

  StatusOr<auth::Principal> Authenticate(grpc::CallbackServerContext* context) const;
  // Authenticates the call and authorises `table` for reading or writing;
  // on failure answers it (status 4, "Access Denied : ...") and returns false.
  bool AdmitTableCall(grpc::CallbackServerContext* context, const std::string& table, bool write,
                      grpc::ServerUnaryReactor* reactor, const CallInfo& call,
                      lynkdb::kvspec::v2::ObjectResult* response);
  // Authorisation of one table access; on denial fills the message.
  bool AllowTable(const auth::Principal& p, const std::string& table_as_sent, bool write, std::string* denied) const;
  // Answers `reader`; a LogRange long-poll calls `done` later, from the
  // LogWaiters thread. `done` may run before this returns.
  void DoQuery(const lynkdb::kvspec::v2::ObjectReader& reader, std::chrono::steady_clock::time_point deadline,
               ResultCallback done) const;
  // Applies validated writers as one atomic command; `done` gets one result
  // each, on the command log's thread.
  void ApplyWriters(std::vector<lynkdb::kvspec::v2::ObjectWriter> writers, ResultsCallback done) const;
  void RunBatch(std::shared_ptr<BatchState> st, int from) const;

  // Commands that change state answer through `done`; the others inline.
  void TableSet(const auth::Principal& p, const std::string& body, ResultCallback done) const;
  void TableList(lynkdb::kvspec::v2::ObjectResult* out) const;
  void AccessKeySet(const std::string& body, ResultCallback done) const;
  void AccessKeyList(const std::string& body, lynkdb::kvspec::v2::ObjectResult* out) const;
  void SysStatus(lynkdb::kvspec::v2::ObjectResult* out) const;
  void Execute(storage::pb::Command cmd, ResultCallback done) const;
  // False (with the error in *out) if the data directory's filesystem has
  // less than min_free_bytes free (a delete: a quarter of it), or the quota
  // is exceeded and `w` is not a delete.
  bool AdmitQuota(const lynkdb::kvspec::v2::ObjectWriter& w, lynkdb::kvspec::v2::ObjectResult* out) const;

  ServiceContext ctx_;
  mutable std::atomic<int> in_flight_{0};
  std::atomic<bool> draining_{false};
  // The data directory's size, measured at most once a second.
  mutable std::atomic<uint64_t> usage_{0};
  mutable std::atomic<int64_t> usage_at_ns_{0};
  mutable std::atomic<uint64_t> free_{UINT64_MAX};
  mutable std::atomic<int64_t> free_at_ns_{0};
};

}  // namespace kvgo::server
