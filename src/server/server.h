// Server: one kvgo-server node. Opens the store, starts its command log
// (the Committer on a single node; the Replicator and the Peer service when
// [[cluster.masters]] lists other nodes), the TTL purger and the gRPC
// endpoint, and shuts them down in reverse order.
//
// Thread-safety: Start, Reload and Shutdown are called from the main thread
// only; the parts they own are thread-safe themselves.
#pragma once

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <thread>

#include "auth/keyring.h"
#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "metrics/http_server.h"
#include "metrics/metrics.h"
#include "metrics/node_collector.h"
#include "replication/peer_service.h"
#include "replication/replicator.h"
#include "server/kv_service.h"
#include "server/listener.h"
#include "server/log_waiters.h"
#include "storage/catalog.h"
#include "storage/committer.h"
#include "storage/query.h"
#include "storage/state_machine.h"
#include "storage/store.h"

namespace kvgo::server {

struct ServerOptions {
  // How often expired keys are purged from disk (reads hide them at once).
  std::chrono::milliseconds purge_interval{10000};
  // --reset-identity: record this config's mode in the data directory
  // whatever it held (server/identity.h).
  bool reset_identity = false;
};

// Descriptors the server needs besides client connections and LevelDB's
// tables: LevelDB's log, manifest and lock, the Paxos WAL, gRPC's own,
// the peers' connections, the HTTP endpoint's threads, the log file.
inline constexpr size_t kReservedFds = 128;
inline constexpr size_t kDefaultMaxConnections = 10000;

// The connections the gRPC port takes at once: [limits] max_connections,
// or what the open-file limit leaves room for (at most
// kDefaultMaxConnections); never more than the limit leaves room for.
size_t ConnectionLimit(const Config& config);

class Server {
 public:
  // Opens everything and starts serving. Returns an error (and leaves
  // nothing running) if the store cannot be opened or the port not bound;
  // FailedPrecondition if the data directory cannot be used as configured
  // (another mode, an unknown format): a restart would not help.
  static StatusOr<std::unique_ptr<Server>> Start(const Config& config, ServerOptions options = {});
  ~Server();  // Shutdown()s

  // Applies the keys the settings table marks live (config/settings.h:
  // the secrets, the log level) and returns the names of the changed keys
  // that need a restart; the running configuration keeps their old values.
  std::vector<std::string> Reload(const Config& config);

  // Stops accepting, finishes in-flight requests (up to `grace`), stops
  // the background work and closes LevelDB. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(10000));

  // The port actually bound (useful when the config says port 0 in tests).
  int port() const { return port_; }
  // True while the node serves requests (storage open, not draining).
  bool ready() const;
  metrics::Metrics* metrics() const { return metrics_.get(); }

 private:
  Server() = default;
  void PurgeLoop();
  void ReclaimForQuota();  // purge thread only
  void SetRootKeys(const Config& config);
  metrics::ClusterView ClusterState() const;

  Config config_;
  ServerOptions options_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<metrics::HttpServer> http_;
  std::atomic<bool> serving_{false};
  Clock* clock_ = SystemClock();
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::StateMachine> sm_;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<auth::Keyring> keyring_;
  std::unique_ptr<LogWaiters> waiters_;
  std::unique_ptr<storage::Committer> committer_;           // single node
  std::unique_ptr<replication::Replicator> replicator_;     // cluster
  std::unique_ptr<replication::PeerService> peer_service_;  // cluster
  storage::CommandLog* log_ = nullptr;                      // one of the two
  std::unique_ptr<storage::QueryEngine> query_;
  std::unique_ptr<PublicService> service_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::unique_ptr<grpc::Server> grpc_;
  int port_ = 0;

  absl::Mutex purge_mu_;
  absl::CondVar purge_cv_;
  bool stopping_ ABSL_GUARDED_BY(purge_mu_) = false;
  std::thread purger_;
  std::chrono::steady_clock::time_point last_reclaim_;            // purge thread only
  std::chrono::steady_clock::time_point last_directory_warning_;  // purge thread only
  bool shut_down_ = false;
};

}  // namespace kvgo::server
