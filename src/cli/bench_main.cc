// kvgo-bench: the seed README's benchmark against a running server.
// 40-byte keys, 1 KiB values; sequential and random writes and reads with
// 1, 10 and 50 concurrent clients (sharing one connection, as the seed's
// benchmark does; --connections changes that). Prints ops/s
// and p50/p99/max latency per case and writes the same as JSON.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/flags_compat.h"
#include "client/client.h"
#include "common/kvspec.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:9100", "server address host:port");
ABSL_FLAG(std::string, secret, "", "the server's auth_secret_key (or $KVGO_SECRET)");
ABSL_FLAG(std::string, key_id, "00000000", "access key id");
ABSL_FLAG(double, seconds, 10, "duration of each case in seconds");
ABSL_FLAG(std::string, clients, "1,10,50", "comma-separated client counts");
ABSL_FLAG(std::string, cases, "seq-write,rand-write,seq-read,rand-read", "cases to run, in order");
ABSL_FLAG(int, value_size, 1024, "value size in bytes");
ABSL_FLAG(std::string, json, "kvgo-bench.json", "where to write the JSON report ('' = none)");
ABSL_FLAG(int, connections, 1,
          "TCP connections shared by the clients (0 = one per client). The default, 1, is the seed's "
          "benchmark: the Go SDK shares one connection per address and key within a process");
ABSL_FLAG(int, threads, 2, "threads driving the clients (each with its own gRPC completion queue)");
ABSL_FLAG(std::string, tls_cert, "", "TLS: a PEM file with the server's certificate or its CA (default: plaintext)");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name to check the server's certificate against (default: the host of --addr)");
ABSL_FLAG(int, server_pid, 0, "if set, report this process's peak resident memory (VmHWM)");

namespace {

using Clock = std::chrono::steady_clock;

struct CaseResult {
  std::string name;
  int clients = 0;
  uint64_t ops = 0;
  uint64_t errors = 0;
  std::string first_error;  // of the first failed request, if any
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

std::string KeyOf(uint64_t i) { return absl::StrFormat("kvgo-bench-%029d", i); }  // 40 bytes

int64_t PeakRssKiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// One virtual client: one request in flight at a time, on a connection
// shared with the other clients (--connections). The clients of
// a case are split among --threads threads, each with its own gRPC
// CompletionQueue: a completion and the client's next request are handled
// on the same thread, with no hand-off to another, so that the bench
// leaves as much of the CPU as it can to the server it measures.
class VirtualClient {
 public:
  VirtualClient(std::shared_ptr<kvgo::client::Client> c, const std::string& name, uint64_t seed,
                std::atomic<uint64_t>* seq, std::atomic<uint64_t>* written, uint64_t base, const std::string& value)
      : client_(std::move(c)),
        write_(name.find("write") != std::string::npos),
        random_(name.rfind("rand", 0) == 0),
        rng_(seed),
        seq_(seq),
        written_(written),
        base_(base),
        value_(value) {
    lat_.reserve(1 << 16);
  }

  // Sends the next request; its completion comes back on `cq` with this
  // object as the tag.
  void Start(grpc::CompletionQueue* cq) {
    // Sequential writes extend the key space [0, *written); random writes
    // overwrite inside it (with a new value, so they are real writes);
    // reads only ask for written keys.
    const uint64_t limit = std::max<uint64_t>(written_->load(), 1);
    if (write_ && !random_) {
      key_index_ = seq_->fetch_add(1) + base_;
    } else if (random_) {
      key_index_ = rng_() % limit;
    } else {
      key_index_ = seq_->fetch_add(1) % limit;
    }
    rpc_.reset();  // lives in the previous call's arena, which goes with its context
    ctx_ = std::make_unique<grpc::ClientContext>();
    client_->PrepareContext(ctx_.get());
    result_.Clear();
    t0_ = Clock::now();
    if (write_) {
      std::string v = value_;
      const std::string stamp = std::to_string(rng_());
      v.replace(0, std::min(stamp.size(), v.size()), stamp);
      writer_ = kvgo::client::NewWriter(KeyOf(key_index_), v);
      rpc_ = client_->stub()->AsyncCommit(ctx_.get(), writer_, cq);
    } else {
      reader_ = kvgo::client::NewKeyReader(KeyOf(key_index_));
      rpc_ = client_->stub()->AsyncQuery(ctx_.get(), reader_, cq);
    }
    rpc_->Finish(&result_, &status_, this);
  }

  // The request sent by Start completed.
  void Done() {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count();
    if (!status_.ok() || result_.status() != kvgo::kvspec::kStatusOK) {
      if (errors_++ == 0) {
        first_error_ = !status_.ok()
                           ? "gRPC status " + std::to_string(status_.error_code()) + ": " + status_.error_message()
                           : "status " + std::to_string(result_.status()) + ": " + result_.message();
      }
    } else {
      lat_.push_back(static_cast<uint32_t>(us));
      if (write_ && !random_) {
        uint64_t w = written_->load();
        while (key_index_ + 1 > w && !written_->compare_exchange_weak(w, key_index_ + 1)) {
        }
      }
    }
  }

  std::vector<uint32_t>& latencies() { return lat_; }
  uint64_t errors() const { return errors_; }
  const std::string& first_error() const { return first_error_; }

 private:
  std::shared_ptr<kvgo::client::Client> client_;
  const bool write_;
  const bool random_;
  std::mt19937_64 rng_;
  std::atomic<uint64_t>* seq_;
  std::atomic<uint64_t>* written_;
  const uint64_t base_;
  const std::string& value_;

  std::unique_ptr<grpc::ClientContext> ctx_;
  // Declared after ctx_, so destroyed before it.
  std::unique_ptr<grpc::ClientAsyncResponseReader<lynkdb::kvspec::v2::ObjectResult>> rpc_;
  lynkdb::kvspec::v2::ObjectWriter writer_;
  lynkdb::kvspec::v2::ObjectReader reader_;
  lynkdb::kvspec::v2::ObjectResult result_;
  grpc::Status status_;
  Clock::time_point t0_;
  uint64_t key_index_ = 0;
  std::vector<uint32_t> lat_;
  uint64_t errors_ = 0;
  std::string first_error_;
};

CaseResult RunCase(const std::string& name, int clients, int connections, int threads, double seconds,
                   const kvgo::client::ClientOptions& base, std::atomic<uint64_t>* written, const std::string& value) {
  std::atomic<uint64_t> seq{0};
  const uint64_t limit_at_start = written->load();
  std::vector<std::shared_ptr<kvgo::client::Client>> conns;
  const int nconn = connections > 0 ? std::min(connections, clients) : clients;
  for (int i = 0; i < nconn; i++) conns.push_back(std::make_shared<kvgo::client::Client>(base));
  std::vector<std::unique_ptr<VirtualClient>> vcs;
  for (int t = 0; t < clients; t++) {
    vcs.push_back(
        std::make_unique<VirtualClient>(conns[t % nconn], name, t * 7919 + 1, &seq, written, limit_at_start, value));
  }
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  // Client i is driven by thread i % threads, each thread with its own
  // completion queue.
  const int nthreads = std::max(1, std::min(threads, clients));
  std::vector<std::thread> drivers;
  for (int d = 0; d < nthreads; d++) {
    drivers.emplace_back([&, d] {
      grpc::CompletionQueue cq;
      int in_flight = 0;
      for (int i = d; i < clients; i += nthreads, in_flight++) vcs[i]->Start(&cq);
      void* tag = nullptr;
      bool ok = false;
      while (in_flight > 0 && cq.Next(&tag, &ok)) {
        auto* v = static_cast<VirtualClient*>(tag);
        v->Done();
        if (Clock::now() < end) {
          v->Start(&cq);
        } else {
          in_flight--;
        }
      }
      cq.Shutdown();
      while (cq.Next(&tag, &ok)) {
      }
    });
  }
  for (auto& t : drivers) t.join();
  CaseResult r;
  r.name = name;
  r.clients = clients;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<uint32_t> all;
  for (auto& v : vcs) {
    all.insert(all.end(), v->latencies().begin(), v->latencies().end());
    r.errors += v->errors();
    if (r.first_error.empty()) r.first_error = v->first_error();
  }
  std::sort(all.begin(), all.end());
  r.ops = all.size();
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2] / 1000.0;
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)] / 1000.0;
    r.max_ms = all.back() / 1000.0;
  }
  return r;
}

// Validates the flags; fills the client counts and case names. Returns
// what is wrong, or "".
std::string CheckFlags(std::vector<int>* client_counts, std::vector<std::string>* cases) {
  for (const auto& part : absl::StrSplit(absl::GetFlag(FLAGS_clients), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 10000) {
      return "--clients wants comma-separated counts from 1 to 10000, not '" + std::string(part) + "'";
    }
    client_counts->push_back(n);
  }
  for (const auto& part : absl::StrSplit(absl::GetFlag(FLAGS_cases), ',')) {
    if (part != "seq-write" && part != "rand-write" && part != "seq-read" && part != "rand-read") {
      return "unknown case '" + std::string(part) + "' in --cases (seq-write, rand-write, seq-read, rand-read)";
    }
    cases->emplace_back(part);
  }
  if (const double s = absl::GetFlag(FLAGS_seconds); !(s > 0 && s <= 86400)) {
    return "--seconds wants a duration above 0 and up to 86400";
  }
  if (const int v = absl::GetFlag(FLAGS_value_size); v < 1 || v > (8 << 20)) {
    return "--value_size wants 1 to 8388608 bytes";
  }
  if (absl::GetFlag(FLAGS_threads) < 1) return "--threads wants at least 1";
  if (absl::GetFlag(FLAGS_connections) < 0) return "--connections wants 0 (one per client) or more";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage("kvgo-bench --addr HOST:PORT --secret SECRET [--seconds N]");
  kvgo::cli::SetFlagsUsage("kvgo-bench " KVGO_VERSION);
  std::vector<std::string> args = kvgo::cli::DashesToUnderscores(argc, argv);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  if (kvgo::cli::PrintHelpIfAsked(args)) return 0;
  if (const std::string bad = kvgo::cli::BadFlag(args); !bad.empty()) {
    std::cerr << "kvgo-bench: " << bad << "\n";
    return 2;
  }
  absl::ParseCommandLine(static_cast<int>(cargs.size()), cargs.data());

  std::vector<int> client_counts;
  std::vector<std::string> cases;
  if (std::string err = CheckFlags(&client_counts, &cases); !err.empty()) {
    std::cerr << "kvgo-bench: " << err << "\n";
    return 2;
  }

  kvgo::client::ClientOptions base;
  base.addr = absl::GetFlag(FLAGS_addr);
  base.key_id = absl::GetFlag(FLAGS_key_id);
  base.secret = absl::GetFlag(FLAGS_secret);
  base.lean_channel = true;
  if (base.secret.empty() && std::getenv("KVGO_SECRET")) base.secret = std::getenv("KVGO_SECRET");
  if (base.secret.empty()) {
    std::cerr << "kvgo-bench: --secret (or KVGO_SECRET) is required\n";
    return 2;
  }
  if (const std::string path = absl::GetFlag(FLAGS_tls_cert); !path.empty()) {
    if (!kvgo::client::LoadTlsRoot(path, &base)) {
      std::cerr << "kvgo-bench: cannot read --tls_cert " << path << "\n";
      return 2;
    }
  }
  base.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
  {
    kvgo::client::Client probe(base);
    if (!probe.WaitReady(std::chrono::seconds(5))) {
      std::cerr << "kvgo-bench: no server answers at " << base.addr << "\n";
      return 1;
    }
    lynkdb::kvspec::v2::ObjectResult rs;
    probe.Commit(kvgo::client::NewWriter("kvgo-bench-probe", "x"), &rs);
    if (rs.status() != kvgo::kvspec::kStatusOK) {
      std::cerr << "kvgo-bench: the server refused a write: " << rs.message() << "\n";
      return 1;
    }
  }
  const std::string value(static_cast<size_t>(absl::GetFlag(FLAGS_value_size) - 1), 'v');
  std::atomic<uint64_t> written{0};
  std::vector<CaseResult> results;
  std::printf("%-11s %7s %12s %10s %9s %9s %9s\n", "case", "clients", "ops", "ops/s", "p50 ms", "p99 ms", "max ms");
  for (int clients : client_counts) {
    for (const std::string& name : cases) {
      CaseResult r = RunCase(name, clients, absl::GetFlag(FLAGS_connections), absl::GetFlag(FLAGS_threads),
                             absl::GetFlag(FLAGS_seconds), base, &written, value);
      std::printf("%-11s %7d %12llu %10.0f %9.2f %9.2f %9.2f%s\n", r.name.c_str(), r.clients,
                  static_cast<unsigned long long>(r.ops), r.ops / r.seconds, r.p50_ms, r.p99_ms, r.max_ms,
                  r.errors ? absl::StrFormat("  (%d errors)", r.errors).c_str() : "");
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  nlohmann::json j;
  j["addr"] = base.addr;
  j["value_size"] = absl::GetFlag(FLAGS_value_size);
  j["key_size"] = 40;
  j["connections"] = absl::GetFlag(FLAGS_connections);
  for (const auto& r : results) {
    j["cases"].push_back({{"case", r.name},
                          {"clients", r.clients},
                          {"ops", r.ops},
                          {"errors", r.errors},
                          {"seconds", r.seconds},
                          {"ops_per_sec", r.ops / r.seconds},
                          {"p50_ms", r.p50_ms},
                          {"p99_ms", r.p99_ms},
                          {"max_ms", r.max_ms}});
  }
  if (int pid = absl::GetFlag(FLAGS_server_pid); pid > 0) {
    int64_t kib = PeakRssKiB(pid);
    j["server_peak_rss_mib"] = kib / 1024.0;
    std::printf("server peak RSS (VmHWM): %.1f MiB\n", kib / 1024.0);
  }
  if (std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    std::ofstream(path) << j.dump(2) << "\n";
    std::printf("JSON report: %s\n", path.c_str());
  }
  uint64_t errors = 0;
  std::string first_error;
  for (const auto& r : results) {
    errors += r.errors;
    if (first_error.empty()) first_error = r.first_error;
  }
  if (errors > 0) {
    std::cerr << "kvgo-bench: " << errors << " requests failed; the first: " << first_error << "\n";
    return 1;
  }
  return 0;
}
