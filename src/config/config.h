// kvgo-server configuration: TOML text -> one validated, immutable Config.
//
// Accepts the seed README's spelling ([storage], [server] bind and
// auth_secret_key, [[cluster.masters]], [performance]) and the kvgo-server
// 1.x spelling ([server.access_key], [[cluster.main_nodes]] with
// [cluster.main_nodes.access_key], [server] http_port, [feature]
// table_compress_name). Every key, its type, default, range and whether a
// SIGHUP applies it: the table in config/settings.h (README.md "Configure"
// shows it).
//
// Thread-safety: a Config is a plain value; the functions here are pure
// (LoadConfig reads one file) and may run on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace kvgo {

struct ClusterMember {
  std::string addr;           // host:port of the member's gRPC endpoint
  std::string access_key_id;  // "00000000" unless the 1.x spelling names one
  std::string secret;         // its auth_secret_key (>= 20 characters)
};

// [server.auth_tls_cert] (the kvgo-server 1.x section): TLS on the gRPC
// port, and mutual TLS between the masters when a CA is given. Each PEM
// comes from *_file (read at load; relative to the prefix) or *_data.
struct TlsConfig {
  std::string cert_pem;  // this server's certificate (chain)
  std::string key_pem;   // its private key
  std::string ca_pem;    // the CA that signed every master's certificate
  // Where each came from, for --check-config: a path or "(inline)".
  std::string cert_source, key_source, ca_source;
  bool enabled() const { return !cert_pem.empty(); }
};

struct Config {
  // Where the config came from and the prefix that relative paths use.
  std::string source;
  std::string prefix;

  // [storage]
  std::string data_directory = "var/data";  // absolute after loading
  uint64_t quota_bytes = 0;                 // 0 = no quota
  // Free space the data directory's filesystem keeps: below it writes other
  // than deletes are refused (below a quarter of it, deletes too), so that
  // LevelDB never runs out of space mid-write; they resume by themselves
  // when space is freed. 0 = no check. Default: room for a memtable flush
  // and LevelDB's largest compaction, 2 x write_buffer_size + 25 x
  // max_table_size (216 MiB at the default sizes).
  uint64_t min_free_bytes = 0;

  // [server]
  std::string bind = "127.0.0.1:9100";
  std::string root_key_id = "00000000";
  std::string root_secret;
  // /metrics, /livez, /readyz on the bind host; 0 = no HTTP listener.
  int http_port = 9101;
  TlsConfig tls;

  // [performance], sizes in MiB as in the seed README
  int write_buffer_size_mib = 8;
  int block_cache_size_mib = 32;
  int max_table_size_mib = 8;
  int max_open_files = 500;

  // [feature]
  std::string table_compress_name = "snappy";  // "snappy" or "none"

  // [limits] (README "Limits"): what clients can take of the server. A
  // call over a limit is refused, the server goes on.
  // Connections on the gRPC port at once (the masters' own get 64 more);
  // 0 = as many as the open-file limit leaves room for.
  int max_connections = 0;
  int max_in_flight_requests = 10000;  // calls being handled at once
  // Memory of requests and replies not yet taken by their clients: in all,
  // and per connection.
  uint64_t max_call_bytes = uint64_t{256} << 20;
  uint64_t max_connection_call_bytes = uint64_t{64} << 20;
  int max_keys_per_request = 100000;  // keys one Key read may name
  int reply_timeout_ms = 30000;       // a reply not taken by then is cancelled

  // [log]
  std::string log_level = "info";  // trace, debug, info, warn, error, off
  std::string log_file;            // empty = stderr; absolute after loading

  // [cluster]; empty or a single member naming this node = single-node mode.
  std::vector<ClusterMember> masters;
  // The masters' shared peer credential, never given to clients (>= 20
  // characters, the same on every master). Empty: the peer key derives from
  // every master's auth_secret_key together (replication/transport.h).
  std::string peer_secret;
  // Consensus timing: the leader sends a heartbeat every heartbeat_ms (one
  // tick); followers elect a new leader after election_timeout_ms to twice
  // that without one (so a dead leader is replaced within about 2x + 0.5 s).
  int heartbeat_ms = 100;
  int election_timeout_ms = 1000;
  // Chosen entries kept in the Paxos log behind the applied slot; a node
  // further behind gets a snapshot instead.
  int log_keep_entries = 20000;
  // Snapshot streaming rate limit, MiB/s.
  int snapshot_rate_mib = 64;

  // The effective configuration as TOML, secrets masked, for --check-config.
  std::string ToToml() const;
  // Whether the masters list another node than this one (cluster mode).
  bool ClusterMode() const;
};

// Parses and validates TOML `text`. `source_name` is used in messages;
// relative paths resolve against `prefix`. On error returns
// InvalidArgument whose message names the file, line and key.
StatusOr<Config> ParseConfig(const std::string& text, const std::string& source_name, const std::string& prefix);

// Reads `path` and calls ParseConfig. NotFound if the file cannot be read.
StatusOr<Config> LoadConfig(const std::string& path, const std::string& prefix);

// Splits "host:port" ("[v6]:port" too). Returns InvalidArgument on a
// missing host, a port outside 1..65535 or trailing garbage.
Status SplitHostPort(const std::string& addr, std::string* host, int* port);

// "******** (40 characters)": nothing of the secret but its length.
std::string MaskSecret(const std::string& secret);

}  // namespace kvgo
