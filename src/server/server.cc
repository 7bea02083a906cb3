#include "server/server.h"

#include <absl/synchronization/mutex.h>
#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <netdb.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "common/kvspec.h"
#include "common/limits.h"
#include "config/settings.h"
#include "metrics/node_collector.h"
#include "server/authz.h"
#include "server/identity.h"
#include "storage/ttl.h"

namespace kvgo::server {

namespace {

constexpr size_t kMaxPurgeBatch = 1000;

// Plaintext (what the kvgo SDK speaks by default), or TLS with this
// server's certificate. With a CA, a client certificate is asked for and,
// if sent, must verify against it: the masters present theirs (the peer
// service refuses calls without one), SDK clients send none.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions opts(tls.ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = tls.ca_pem;
  opts.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_pem});
  return grpc::SslServerCredentials(opts);
}

}  // namespace

size_t ConnectionLimit(const Config& config) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const size_t files = rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : static_cast<size_t>(rl.rlim_cur);
  const size_t reserved = static_cast<size_t>(config.max_open_files) + kReservedFds;
  const size_t room = files > reserved + 16 ? files - reserved : 16;
  if (config.max_connections == 0) return std::min(room, kDefaultMaxConnections);
  const size_t want = static_cast<size_t>(config.max_connections);
  if (want > room) {
    spdlog::warn(
        "[limits] max_connections {} does not fit the open-file limit {} ([performance] max_open_files {} and {} "
        "for the server itself come first): {} connections at most. Raise the open-file limit (systemd "
        "LimitNOFILE=)",
        want, files, config.max_open_files, kReservedFds, room);
    return room;
  }
  return want;
}

namespace {

// The addresses the masters connect from (their own addresses), which get
// room beyond max_connections.
std::set<std::string> MasterIps(const Config& config) {
  std::set<std::string> out;
  if (!config.ClusterMode()) return out;
  for (const auto& m : config.masters) {
    std::string host;
    int port = 0;
    if (!SplitHostPort(m.addr, &host, &port).ok()) continue;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) continue;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* a = ai->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      if (inet_ntop(ai->ai_family, a, buf, sizeof(buf)) != nullptr) out.insert(buf);
    }
    freeaddrinfo(res);
  }
  return out;
}

std::string NodeId(const std::string& addr) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(addr.data()), addr.size(), d);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(d), 8));
}

}  // namespace

StatusOr<std::unique_ptr<Server>> Server::Start(const Config& config, ServerOptions options) {
  std::unique_ptr<Server> s(new Server());
  s->config_ = config;
  s->options_ = options;
  s->metrics_ = std::make_unique<metrics::Metrics>();

  storage::StoreOptions so;
  so.data_directory = config.data_directory;
  so.write_buffer_size = static_cast<size_t>(config.write_buffer_size_mib) << 20;
  so.block_cache_size = static_cast<size_t>(config.block_cache_size_mib) << 20;
  so.max_file_size = static_cast<size_t>(config.max_table_size_mib) << 20;
  so.max_open_files = config.max_open_files;
  so.snappy = config.table_compress_name == "snappy";
  auto store = storage::Store::Open(so);
  if (!store.ok()) return store.status();
  s->store_ = std::move(*store);
  if (s->store_->created()) {
    spdlog::warn("created a new, empty database in {} (there was none)", config.data_directory);
  }
  // A damaged table shows only when it is read: name it (LevelDB's own
  // "Corruption: ..." errors; the Paxos WAL names its files itself).
  auto damaged = [&](const Status& st) {
    if (!absl::StrContains(st.message(), "Corruption: ")) return st;
    return absl::DataLossError("the data in " + s->store_->directory() + " is damaged (" + std::string(st.message()) +
                               ")" + s->store_->DescribeDamage());
  };
  if (Status st = CheckIdentity(s->store_.get(), config, options.reset_identity); !st.ok()) return damaged(st);

  // Cluster mode when the masters list other nodes. The Paxos log is read
  // before the state machine opens: an interrupted snapshot install wipes
  // the KV data, and the state machine then starts over.
  bool cluster = false;
  for (const auto& m : config.masters) cluster = cluster || m.addr != config.bind;
  consensus::Restored restored;
  std::unique_ptr<replication::PaxosLogStore> log;
  if (cluster) {
    auto opened = replication::PaxosLogStore::Open(s->store_.get());
    if (!opened.ok()) return damaged(opened.status());
    log = std::move(*opened);
    auto r = log->Load();
    if (!r.ok()) return damaged(r.status());
    restored = std::move(*r);
  }

  auto sm = storage::StateMachine::Open(s->store_.get());
  if (!sm.ok()) return damaged(sm.status());
  s->sm_ = std::move(*sm);
  auto effects = s->sm_->LoadEffects();
  if (!effects.ok()) return damaged(effects.status());

  s->catalog_ = std::make_unique<storage::Catalog>();
  s->keyring_ = std::make_unique<auth::Keyring>();
  for (const auto& t : effects->tables) s->catalog_->PutTable(t);
  s->catalog_->PutLogVersions(effects->log_versions);
  for (const auto& k : effects->access_keys) s->keyring_->Put(k);
  s->SetRootKeys(config);

  s->waiters_ = std::make_unique<LogWaiters>(s->catalog_.get());
  auth::Keyring* keyring = s->keyring_.get();
  LogWaiters* waiters = s->waiters_.get();
  storage::Catalog* catalog = s->catalog_.get();
  if (cluster) {
    auto rep = replication::Replicator::Start(
        config, s->store_.get(), s->sm_.get(), std::move(log), std::move(restored),
        [catalog, keyring, waiters](const storage::StateMachine::Effects& e) {
          for (const auto& t : e.tables) catalog->PutTable(t);
          catalog->PutLogVersions(e.log_versions);
          for (const auto& k : e.access_keys) keyring->Put(k);
          if (!e.log_versions.empty()) waiters->Notify();
        },
        [m = s->metrics_.get()](size_t entries, double seconds) { m->ObserveGroup(entries, seconds); });
    if (!rep.ok()) return rep.status();
    s->replicator_ = std::move(*rep);
    s->replicator_->SetForwardCheck(
        [keyring](const storage::pb::Command& cmd) { return DenyForwarded(cmd, *keyring); });
    s->peer_service_ = std::make_unique<replication::PeerService>(s->replicator_.get());
    s->log_ = s->replicator_.get();
  } else {
    s->committer_ = std::make_unique<storage::Committer>(
        s->store_.get(), s->sm_.get(), s->catalog_.get(),
        [keyring, waiters](const storage::StateMachine::Effects& e) {
          for (const auto& k : e.access_keys) keyring->Put(k);
          if (!e.log_versions.empty()) waiters->Notify();
        },
        [m = s->metrics_.get()](size_t commands, double seconds) { m->ObserveGroup(commands, seconds); });
    s->log_ = s->committer_.get();
  }
  s->query_ = std::make_unique<storage::QueryEngine>(s->store_.get(), s->catalog_.get(), s->clock_);

  ServiceContext ctx;
  ctx.store = s->store_.get();
  ctx.catalog = s->catalog_.get();
  ctx.log = s->log_;
  ctx.query = s->query_.get();
  ctx.keyring = s->keyring_.get();
  ctx.waiters = s->waiters_.get();
  ctx.metrics = s->metrics_.get();
  ctx.clock = s->clock_;
  ctx.node_id = NodeId(config.bind);
  ctx.node_addr = config.bind;
  ctx.started_unix_s = s->clock_->NowMs() / 1000;
  ctx.cluster = [raw = s.get()] { return raw->ClusterState(); };
  ctx.storage_health = [store = s->store_.get()] { return store->CheckDirectory(); };
  ctx.quota_bytes = config.quota_bytes;
  ctx.min_free_bytes = config.min_free_bytes;
  ctx.limits.max_in_flight = static_cast<size_t>(config.max_in_flight_requests);
  ctx.limits.max_call_bytes = config.max_call_bytes;
  ctx.limits.max_connection_call_bytes = config.max_connection_call_bytes;
  ctx.limits.reply_timeout = std::chrono::milliseconds(config.reply_timeout_ms);
  ctx.max_keys_per_request = static_cast<size_t>(config.max_keys_per_request);
  s->service_ = std::make_unique<PublicService>(ctx);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // The port is the Listener's (server/listener.h): it caps connections and
  // survives running out of descriptors; gRPC gets each connection from it.
  auto listener = Listener::Bind(config.bind);
  if (!listener.ok()) {
    if (s->committer_) s->committer_->Stop();
    if (s->replicator_) s->replicator_->Stop();
    return listener.status();
  }
  s->listener_ = std::move(*listener);
  s->port_ = s->listener_->port();
  grpc::ServerBuilder builder;
  auto acceptor = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, ServerCredentials(config.tls));
  // Peer messages have their own, larger limit (common/limits.h); the
  // public service refuses requests above the wire limit itself.
  const int max_message = cluster ? limits::kMaxPeerMessageBytes : kvspec::kMaxMessageBytes;
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  // A connection has this long to finish its TLS and HTTP/2 handshakes.
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  // Each stream may hold a request of up to the message limit while it
  // arrives (before the call is tracked): a connection holds at most 100.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 100);
  // The masters ping each other every 2 s, also while idle: allowed.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.RegisterService(s->service_.get());
  if (s->peer_service_) builder.RegisterService(s->peer_service_.get());
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr) {
    if (s->committer_) s->committer_->Stop();
    if (s->replicator_) s->replicator_->Stop();
    return absl::InternalError("cannot start the gRPC server on " + config.bind);
  }
  s->acceptor_ = std::move(acceptor);
  const size_t max_connections = ConnectionLimit(config);
  s->listener_->Start(s->acceptor_.get(), max_connections, MasterIps(config), s->metrics_.get());
  s->metrics_->AddCollectable(std::make_shared<metrics::NodeCollector>(
      s->store_.get(), [raw = s.get()] { return raw->ClusterState(); }, ctx.started_unix_s, config.min_free_bytes));
  if (config.http_port > 0) {
    std::string host;
    int unused = 0;
    if (Status hs = SplitHostPort(config.bind, &host, &unused); !hs.ok()) return hs;
    Server* raw = s.get();
    auto http = metrics::HttpServer::Start(host, config.http_port, s->metrics_.get(), [raw] { return raw->ready(); });
    if (!http.ok()) {
      s->Shutdown(std::chrono::milliseconds(0));
      return http.status();
    }
    s->http_ = std::move(*http);
  }
  s->serving_ = true;
  s->purger_ = std::thread([srv = s.get()] {
    pthread_setname_np(pthread_self(), "kvgo-ttl-purge");
    srv->PurgeLoop();
  });
  spdlog::info("kvgo-server {} serving on {} (data {}, at most {} connections){}", KVGO_VERSION, config.bind,
               config.data_directory, max_connections,
               s->http_ ? " metrics on http port " + std::to_string(s->http_->port()) : "");
  return s;
}

Server::~Server() { Shutdown(); }

metrics::ClusterView Server::ClusterState() const {
  metrics::ClusterView v;
  // Every reason, also on a single node (no peer service: none refused).
  for (size_t i = 0; i < static_cast<size_t>(replication::PeerRefusal::kCount); i++) {
    const auto why = static_cast<replication::PeerRefusal>(i);
    v.peer_calls_refused.emplace_back(replication::PeerRefusalName(why),
                                      peer_service_ ? peer_service_->refused(why) : 0);
  }
  v.members = std::max<size_t>(1, config_.masters.size());
  if (committer_) {
    v.leader_addr = config_.bind;
    const auto cs = committer_->stats();
    v.commit = v.applied = cs.groups;
    v.commands = cs.commands;
    v.apply_rules = storage::kApplyRules;
    return v;
  }
  if (!replicator_) return v;
  const auto rs = replicator_->status();
  v.is_leader = rs.role == consensus::Role::kLeader;
  v.role = consensus::RoleName(rs.role);
  v.leader_addr = rs.leader_addr;
  v.leader_known = rs.leader != 0;
  v.ballot_round = rs.ballot_round;
  v.commit = rs.commit;
  v.applied = rs.applied;
  v.compacted = rs.compacted;
  v.leader_changes = rs.leader_changes;
  v.entries_skipped = rs.entries_skipped;
  v.commands = rs.applied;
  v.forwarded = rs.forwarded;
  v.forward_calls = rs.forward_calls;
  v.wal_bytes = rs.wal_bytes;
  v.snapshots_sent = rs.snapshots_sent;
  v.snapshots_received = rs.snapshots_received;
  v.apply_rules = rs.apply_rules;
  for (const auto& p : rs.peers) v.peers.push_back({p.addr, p.connected, p.dropped});
  return v;
}

bool Server::ready() const {
  // In a cluster a node is ready once it knows a leader (it can then serve
  // reads and writes); no node is whose data directory is gone.
  return serving_.load() && (!replicator_ || replicator_->leader_known()) && store_->CheckDirectory().ok();
}

void Server::SetRootKeys(const Config& config) {
  std::vector<hooto::hauth::v1::AccessKey> roots;
  roots.push_back(auth::MakeRootKey(config.root_key_id, config.root_secret));
  for (const auto& m : config.masters) {
    if (m.secret != config.root_secret) roots.push_back(auth::MakeRootKey(m.access_key_id, m.secret));
  }
  keyring_->SetRootKeys(std::move(roots));
}

std::vector<std::string> Server::Reload(const Config& config) {
  Config next;
  std::vector<std::string> restart = PlanReload(config_, config, &next);
  const bool members_changed = std::find(restart.begin(), restart.end(), "cluster.masters") != restart.end();
  SetRootKeys(next);
  if (replicator_ && !members_changed) replicator_->SetSecrets(next);
  spdlog::set_level(spdlog::level::from_str(next.log_level));
  config_ = next;
  return restart;
}

void Server::ReclaimForQuota() {
  // Near the quota, deleted data is reclaimed by compacting the whole store
  // (at most once a minute): no manual defragmentation step.
  if (config_.quota_bytes == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (last_reclaim_ != std::chrono::steady_clock::time_point{} && now - last_reclaim_ < std::chrono::minutes(1)) {
    return;
  }
  const uint64_t used = store_->DiskUsage();
  if (used < config_.quota_bytes / 10 * 9) return;
  last_reclaim_ = now;
  store_->CompactAll();
  spdlog::info("storage at {} of {} quota bytes: compacted, now {} bytes", used, config_.quota_bytes,
               store_->DiskUsage());
}

void Server::PurgeLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&purge_mu_);
      const absl::Time until = absl::Now() + absl::FromChrono(options_.purge_interval);
      while (!stopping_ && !purge_cv_.WaitWithDeadline(&purge_mu_, until)) {
      }
      if (stopping_) return;
    }
    if (Status st = store_->CheckDirectory(); !st.ok()) {
      // Writes and /readyz say so at once; the log, once a minute.
      const auto now = std::chrono::steady_clock::now();
      if (now - last_directory_warning_ >= std::chrono::minutes(1)) {
        spdlog::error("{}", std::string(st.message()));
        last_directory_warning_ = now;
      }
      continue;
    }
    ReclaimForQuota();
    // In a cluster the leader purges for everyone (through the log).
    if (!log_->RunsBackgroundWork()) continue;
    // Each round removes at most kMaxPurgeBatch objects per command and
    // goes on while there are more, so a backlog clears within one round.
    for (;;) {
      storage::pb::Command cmd;
      cmd.set_now_ms(static_cast<uint64_t>(clock_->NowMs()));
      *cmd.mutable_purge() = storage::CollectExpired(*store_, catalog_->Tables(), cmd.now_ms(), kMaxPurgeBatch);
      const int count = cmd.purge().targets_size();
      if (count == 0) break;
      auto res = log_->Execute(std::move(cmd));
      if (!res.ok()) {
        spdlog::warn("TTL purge failed: {}", std::string(res.status().message()));
        break;
      }
      metrics_->CountPurged(static_cast<size_t>(count));
      spdlog::debug("purged {} expired keys", count);
      if (count < static_cast<int>(kMaxPurgeBatch)) break;
    }
  }
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  const bool was_serving = grpc_ != nullptr;
  if (was_serving) {
    spdlog::info("shutting down: finishing in-flight requests");
    // Refuse new calls, answer parked long-polls, and wait (bounded) for
    // the calls already accepted; then close the listener.
    serving_ = false;
    if (auto* health = grpc_->GetHealthCheckService()) health->SetServingStatus(false);
    service_->StartDraining();
    if (waiters_) waiters_->Shutdown();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (service_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (service_->in_flight() > 0) {
      spdlog::warn("{} requests still running after {} ms; cancelling them", service_->in_flight(), grace.count());
    }
    // The command log answers what it still holds (forwarded writes and
    // reads from peers too) before gRPC waits for every call to finish.
    if (replicator_) replicator_->Stop();
    listener_->Stop();  // before gRPC's shutdown: no connection handed to a stopped server
    grpc_->Shutdown(std::chrono::system_clock::now());
  }
  if (waiters_) waiters_->Shutdown();
  http_.reset();
  {
    absl::MutexLock lock(&purge_mu_);
    stopping_ = true;
  }
  purge_cv_.SignalAll();
  if (purger_.joinable()) purger_.join();
  if (committer_) committer_->Stop();
  if (replicator_) replicator_->Stop();
  grpc_.reset();
  acceptor_.reset();
  listener_.reset();
  service_.reset();
  peer_service_.reset();
  query_.reset();
  committer_.reset();
  replicator_.reset();
  log_ = nullptr;
  waiters_.reset();
  sm_.reset();
  store_.reset();  // closes LevelDB
  if (was_serving) spdlog::info("shutdown complete");
}

}  // namespace kvgo::server
