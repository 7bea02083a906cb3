#include "nemesis.h"

#include <signal.h>

#include <atomic>
#include <cstdarg>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "cluster_process.h"
#include "common/kvspec.h"
#include "linearizability.h"

namespace kvgo::nemesis {

namespace {

namespace kv = lynkdb::kvspec::v2;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t NowNs() { return Clock::now().time_since_epoch().count(); }

// splitmix64: one stream of choices per (seed, purpose, index).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Recorder {
  std::mutex mu;
  std::vector<sim::Operation> ops;
  std::vector<std::string> log;  // operations and faults, in order, for a failing run
  void Add(const sim::Operation& op, const std::string& line) {
    std::lock_guard lock(mu);
    ops.push_back(op);
    log.push_back(line);
  }
  void Note(const std::string& line) {
    std::lock_guard lock(mu);
    log.push_back(line);
  }
};

std::string Fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

// One client operation against node `node`; records it.
void DoOp(int client, uint64_t seed, int i, int keys, testing::ClusterProcess& cluster,
          std::vector<std::unique_ptr<client::Client>>& clients, Recorder* rec, int* ok_writes, int* unknown) {
  const uint64_t r = Mix(seed * 1000003 + static_cast<uint64_t>(i));
  const int node = static_cast<int>(r % static_cast<uint64_t>(cluster.size()));
  const std::string key = "nk" + std::to_string((r >> 8) % static_cast<uint64_t>(keys));
  const int kind = static_cast<int>((r >> 24) % 10);  // 0-4 get, 5-8 put, 9 delete
  sim::Operation op;
  op.client = client;
  op.key = key;
  op.invoke = NowNs();
  kv::ObjectResult res;
  if (kind < 5) {
    grpc::Status st = clients[node]->Query(client::NewKeyReader(key), &res);
    op.response = NowNs();
    if (!st.ok()) return;  // a failed read has no effect: not recorded
    if (res.status() == kvspec::kStatusOK && res.items_size() == 1) {
      op.value = client::ValueString(res.items(0));
    } else if (res.status() != kvspec::kStatusNotFound) {
      return;
    }
    rec->Add(op, Fmt("%lld c%d n%d get %s -> '%s'", static_cast<long long>(op.invoke), client, node + 1,
                     key.c_str(), op.value.c_str()));
    return;
  }
  op.write = true;
  kv::ObjectWriter w;
  if (kind < 9) {
    op.value = "s" + std::to_string(seed) + "-" + std::to_string(i);
    w = client::NewWriter(key, op.value);
  } else {
    op.value = "";  // absent
    w.set_mode(kvspec::kWriteModeDelete);
    w.mutable_meta()->set_key(key);
  }
  grpc::Status st = clients[node]->Commit(w, &res);
  const bool ok = st.ok() && res.status() == kvspec::kStatusOK;
  if (ok) {
    op.response = NowNs();
    (*ok_writes)++;
  } else {
    (*unknown)++;  // failed or timed out: it may still take effect
  }
  rec->Add(op, Fmt("%lld c%d n%d %s %s '%s' -> %s", static_cast<long long>(op.invoke), client, node + 1,
                   kind < 9 ? "put" : "del", key.c_str(), op.value.c_str(),
                   ok ? "ok" : (st.ok() ? res.message() : st.error_message()).c_str()));
}

// Writes the history, the fault schedule and every node's log.
void Keep(const Options& o, Recorder& rec, testing::ClusterProcess& cluster, RunResult* out) {
  std::string dir = o.keep_dir;
  if (dir.empty()) dir = (std::filesystem::temp_directory_path() / ("kvgo-nemesis-" + std::to_string(o.seed))).string();
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/history.txt");
  f << "# seed " << o.seed << ", " << o.nodes << " nodes, " << o.ops << " ops, " << o.clients << " clients\n";
  if (!out->linearizable) f << "# not linearizable: key " << out->bad_key << "\n";
  if (!out->error.empty()) f << "# " << out->error << "\n";
  std::lock_guard lock(rec.mu);
  for (const auto& line : rec.log) f << line << "\n";
  for (int i = 0; i < cluster.size(); i++) {
    std::ofstream(dir + "/node" + std::to_string(i + 1) + ".log") << cluster.node(i).Log();
  }
  out->kept = dir;
}

}  // namespace

RunResult Run(const Options& o) {
  RunResult out;
  out.seed = o.seed;
  testing::ClusterProcess cluster("nemesis-" + std::to_string(o.seed) + "-",
                                  testing::ClusterOptions{o.nodes, "", {}, false});
  if (!cluster.StartAll()) {
    out.error = "the cluster did not start";
    return out;
  }
  if (cluster.Leader() < 0) {
    out.error = "no leader elected";
    return out;
  }
  const int keys = std::max(8, o.ops / 40);
  Recorder rec;
  std::atomic<int> next{0};
  std::atomic<bool> done{false};
  std::vector<int> ok_writes(o.clients, 0), unknown(o.clients, 0);

  // Faults: one node at a time is killed (-9) and restarted, or paused
  // and resumed, so a majority always remains.
  std::thread faults([&] {
    for (int f = 0; !done.load(); f++) {
      const uint64_t r = Mix(o.seed * 7919 + static_cast<uint64_t>(f));
      std::this_thread::sleep_for(milliseconds(300 + r % 900));
      if (done.load()) break;
      int victim = static_cast<int>((r >> 12) % static_cast<uint64_t>(cluster.size()));
      if ((r >> 20) % 2 == 0) {
        const int leader = cluster.Leader(milliseconds(200));
        if (leader >= 0) victim = leader;
      }
      const auto hold = milliseconds(400 + (r >> 24) % 1600);
      auto& n = cluster.node(victim);
      if ((r >> 40) % 2 == 0) {
        rec.Note(Fmt("%lld fault: kill -9 node %d for %lld ms", static_cast<long long>(NowNs()), victim + 1,
                     static_cast<long long>(hold.count())));
        kill(n.pid(), SIGKILL);
        n.WaitExit(milliseconds(5000));
        out.kills++;
        std::this_thread::sleep_for(hold);
        n.Start();
        n.WaitReady(milliseconds(20000));
      } else {
        rec.Note(Fmt("%lld fault: pause node %d for %lld ms", static_cast<long long>(NowNs()), victim + 1,
                     static_cast<long long>(hold.count())));
        n.Signal(SIGSTOP);
        out.pauses++;
        std::this_thread::sleep_for(hold);
        n.Signal(SIGCONT);
      }
      out.faults++;
      rec.Note(Fmt("%lld fault healed: node %d", static_cast<long long>(NowNs()), victim + 1));
    }
  });

  std::vector<std::thread> workers;
  for (int c = 0; c < o.clients; c++) {
    workers.emplace_back([&, c] {
      std::vector<std::unique_ptr<client::Client>> clients;
      for (int i = 0; i < cluster.size(); i++) {
        client::ClientOptions co;
        co.addr = cluster.node(i).addr();
        co.secret = cluster.node(i).secret();
        co.timeout = milliseconds(3000);
        clients.push_back(std::make_unique<client::Client>(co));
      }
      const int seconds = o.seconds > 0 ? o.seconds : std::max(5, o.ops / 100);
      const auto start = Clock::now();
      for (int i = next++; i < o.ops; i = next++) {
        // Op i is due at i/ops of the run's duration.
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(seconds * static_cast<double>(i) / o.ops));
        std::this_thread::sleep_until(due);
        DoOp(c, o.seed, i, keys, cluster, clients, &rec, &ok_writes[c], &unknown[c]);
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  faults.join();
  for (int c = 0; c < o.clients; c++) {
    out.ok_writes += ok_writes[c];
    out.unknown += unknown[c];
  }

  // Heal: every node runs and has applied everything.
  for (int i = 0; i < cluster.size(); i++) {
    auto& n = cluster.node(i);
    n.Signal(SIGCONT);
    if (!n.running()) n.Start();
    if (!n.WaitReady(milliseconds(30000))) {
      out.error = "node " + std::to_string(i + 1) + " did not come back";
      Keep(o, rec, cluster, &out);
      return out;
    }
  }
  if (!cluster.WaitConverged(milliseconds(60000))) {
    out.error = "the nodes did not converge within 60 s";
  }

  // The history so far, then a final read of every key through every node.
  std::vector<sim::Operation> history = rec.ops;
  out.ops = static_cast<int>(history.size());
  std::vector<sim::Operation> finals;
  for (int i = 0; i < cluster.size(); i++) {
    auto c = cluster.node(i).NewClient();
    for (int k = 0; k < keys; k++) {
      const std::string key = "nk" + std::to_string(k);
      for (int attempt = 0; attempt < 200; attempt++) {
        sim::Operation op;
        op.client = 1000 + i;
        op.key = key;
        op.invoke = NowNs();
        kv::ObjectResult res;
        grpc::Status st = c->Query(client::NewKeyReader(key), &res);
        op.response = NowNs();
        if (st.ok() && (res.status() == kvspec::kStatusOK || res.status() == kvspec::kStatusNotFound)) {
          if (res.status() == kvspec::kStatusOK && res.items_size() == 1) op.value = client::ValueString(res.items(0));
          finals.push_back(op);
          rec.Note(Fmt("%lld final n%d get %s -> '%s'", static_cast<long long>(op.invoke), i + 1, key.c_str(),
                       op.value.c_str()));
          break;
        }
        std::this_thread::sleep_for(milliseconds(50));
      }
    }
  }

  // Per key: the history must be linearizable; with the final reads added
  // it must stay so (otherwise an acknowledged write was lost, or a value
  // came back that no write explains).
  std::map<std::string, std::vector<sim::Operation>> by_key, by_key_final;
  for (const auto& op : history) by_key[op.key].push_back(op);
  by_key_final = by_key;
  for (const auto& op : finals) by_key_final[op.key].push_back(op);
  for (const auto& [key, ops] : by_key_final) {
    const bool before = sim::CheckRegister(by_key[key]);
    if (!before) {
      if (out.linearizable) out.bad_key = key;
      out.linearizable = false;
    } else if (!sim::CheckRegister(ops)) {
      out.lost++;
    }
  }
  std::string first;
  for (int i = 0; i < cluster.size(); i++) {
    auto c = cluster.node(i).NewClient();
    auto [digest, count] = testing::TableDigest(*c);
    (void)count;
    if (i == 0) first = digest;
    if (digest != first || digest.rfind("error", 0) == 0) {
      out.lost++;
      rec.Note("node " + std::to_string(i + 1) + " table digest " + digest + " differs from node 1's " + first);
    }
  }

  if (!out.linearizable || out.lost > 0 || !out.error.empty() || o.verbose) Keep(o, rec, cluster, &out);
  return out;
}

}  // namespace kvgo::nemesis
