// PublicService: lynkdb.kvspec.v2.Public over gRPC (Query, Commit,
// BatchCommit, SysCmd), wire-compatible with the kvgo Go SDK. Every failure
// is answered in-band (gRPC OK, ObjectResult.status 4/5) as the SDK
// expects, except the refusals of the CallTracker (a limit of [limits]
// reached: RESOURCE_EXHAUSTED, or draining: UNAVAILABLE). No request can
// crash the server; once received, no call takes more memory than the
// budgets of [limits] (while it arrives, gRPC holds it: up to 100 streams
// per connection).
//
// It uses gRPC's callback API: no handler blocks a thread. Reads are
// answered inline; writes complete from the command log's callback once
// durable; LogRange long-polls park in LogWaiters.
//
// Access keys: a call is authenticated against this node's keyring; a key
// unknown here is looked up again after a read barrier (a key just created
// through another node), and a read authorises again after its barrier if
// the key changed meanwhile. Writes with a stored key carry its id, so the
// leader checks them with its own keyring (server/authz.h).
//
// Thread-safe: gRPC calls the handlers on many threads at once.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "auth/keyring.h"
#include "common/clock.h"
#include "kvspec.grpc.pb.h"
#include "metrics/metrics.h"
#include "metrics/node_collector.h"
#include "server/call_tracker.h"
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
  // [limits]: the call budgets, and keys one Key read may name.
  CallLimits limits;
  size_t max_keys_per_request = 100000;
  // The replication view for SysStatus (may be empty: no "cluster" field).
  std::function<metrics::ClusterView()> cluster;
  // False once the store failed for good (its directory was deleted, say):
  // writes are then refused with this message. May be empty.
  std::function<Status()> storage_health;
};

class PublicService final : public lynkdb::kvspec::v2::Public::CallbackService {
 public:
  // REQUIRES: every pointer in ctx outlives the service.
  explicit PublicService(ServiceContext ctx);

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
  void StartDraining() { tracker_.StartDraining(); }
  // Calls accepted and not yet done.
  size_t in_flight() const { return tracker_.in_flight(); }

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  using ResultCallback = std::function<void(lynkdb::kvspec::v2::ObjectResult)>;
  using ResultsCallback = std::function<void(std::vector<lynkdb::kvspec::v2::ObjectResult>)>;
  using PrincipalCallback = std::function<void(StatusOr<auth::Principal>)>;
  struct BatchState;

  // Authenticates the call (see the header comment); `next` may run on any
  // thread, also before this returns.
  void Authenticate(grpc::CallbackServerContext* context, Deadline deadline, PrincipalCallback next) const;
  // The stored key `p` as this node knows it now (after a read barrier);
  // `p` itself if it is a root key or unchanged.
  auth::Principal Current(const auth::Principal& p) const;
  // Whether `p` is a stored (AccessKeySet) key rather than a root key.
  bool IsStored(const auth::Principal& p) const;
  // Answers `reader` with `budget` bounding the reply; a LogRange long-poll
  // calls `done` later, from the LogWaiters thread. `done` may run before
  // this returns.
  void DoQuery(const lynkdb::kvspec::v2::ObjectReader& reader, Deadline deadline, storage::ReplyBudget* budget,
               ResultCallback done) const;
  // Status 4 "too many keys" if a Key read names more than allowed.
  bool TooManyKeys(const lynkdb::kvspec::v2::ObjectReader& reader, metrics::Rpc rpc,
                   lynkdb::kvspec::v2::ObjectResult* out) const;
  // Applies validated writers as one atomic command for `p`; `done` gets
  // one result each, on the command log's thread.
  void ApplyWriters(const auth::Principal& p, std::vector<lynkdb::kvspec::v2::ObjectWriter> writers,
                    ResultsCallback done) const;
  void RunBatch(std::shared_ptr<BatchState> st, int from) const;
  // Answers the batch: every item's result, or the budget's refusal.
  void FinishBatch(const std::shared_ptr<BatchState>& st) const;

  // SysCmd methods (sys_cmd.cc). Commands that change state answer through
  // `done`; the others fill `out`.
  void TableSet(const auth::Principal& p, const std::string& body, ResultCallback done) const;
  void TableList(const auth::Principal& p, lynkdb::kvspec::v2::ObjectResult* out) const;
  void AccessKeySet(const auth::Principal& p, const std::string& body, ResultCallback done) const;
  void AccessKeyList(const auth::Principal& p, const std::string& body, lynkdb::kvspec::v2::ObjectResult* out) const;
  void SysStatus(lynkdb::kvspec::v2::ObjectResult* out) const;
  void SysMetrics(const std::string& body, lynkdb::kvspec::v2::ObjectResult* out) const;
  // Proposes `cmd` for `p` (carrying its id when a stored key).
  void Execute(const auth::Principal& p, storage::pb::Command cmd, ResultCallback done) const;
  // False (with the error in *out) if the store failed, the data
  // directory's filesystem has less than min_free_bytes free (a delete: a
  // quarter of it), or the quota is exceeded and `w` is not a delete.
  bool AdmitWrite(const lynkdb::kvspec::v2::ObjectWriter& w, lynkdb::kvspec::v2::ObjectResult* out) const;

  ServiceContext ctx_;
  mutable CallTracker tracker_;
  // The data directory's size, measured at most once a second.
  mutable std::atomic<uint64_t> usage_{0};
  mutable std::atomic<int64_t> usage_at_ns_{0};
  mutable std::atomic<uint64_t> free_{UINT64_MAX};
  mutable std::atomic<int64_t> free_at_ns_{0};
};

}  // namespace kvgo::server
