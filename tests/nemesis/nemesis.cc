#include "nemesis.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
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
#include "network.h"

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
  // Every read that returned `value` must have returned the same version.
  std::map<std::string, uint64_t> versions;  // GUARDED_BY(mu)
  int version_conflicts = 0;                 // GUARDED_BY(mu)
  void SeeVersion(const std::string& value, uint64_t version) {
    std::lock_guard lock(mu);
    auto [it, fresh] = versions.emplace(value, version);
    if (!fresh && it->second != version) {
      version_conflicts++;
      log.push_back("value '" + value + "' read with version " + std::to_string(version) + " and earlier with " +
                    std::to_string(it->second));
    }
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

// The workload's key space: "nk0" ... "nk<keys-1>".
std::string KeyName(uint64_t k) { return "nk" + std::to_string(k); }

const char* EffectName(const sim::Operation& op) {
  if (!op.write) return "get";
  switch (op.effect) {
    case sim::Operation::Effect::kCreate:
      return "create";
    case sim::Operation::Effect::kCas:
      return "cas";
    case sim::Operation::Effect::kPut:
      break;
  }
  return op.value.empty() ? "del" : "put";
}

// One client's operations. The mix: get 30%, scan 10%, put 22%, delete 8%,
// CAS (prev_data_check) 12%, create 8%, batch of 2-3 writes 10%. Every
// operation is recorded per key: a scan as a read of every key in its
// range, a batch as a write of each of its keys (with the batch's timing).
class Worker {
 public:
  Worker(int client, const Options& o, int keys, testing::ClusterProcess& cluster, Recorder* rec)
      : c_(client), o_(o), keys_(keys), cluster_(cluster), rec_(rec) {
    for (int i = 0; i < cluster.size(); i++) {
      client::ClientOptions co;
      co.addr = cluster.node(i).addr();
      co.secret = cluster.node(i).secret();
      co.timeout = milliseconds(3000);
      clients_.push_back(std::make_unique<client::Client>(co));
    }
  }

  int ok_writes = 0;
  int unknown = 0;
  int rejected = 0;  // writes the server said it did not apply
  int ops = 0;

  void Do(int i) {
    ops++;
    const uint64_t r = Mix(o_.seed * 1000003 + static_cast<uint64_t>(i));
    node_ = static_cast<int>(r % static_cast<uint64_t>(cluster_.size()));
    const std::string key = KeyName((r >> 8) % static_cast<uint64_t>(keys_));
    const int kind = static_cast<int>((r >> 24) % 50);
    const std::string value = "s" + std::to_string(o_.seed) + "-" + std::to_string(i);
    if (kind < 15) return Get(key);
    if (kind < 20) return Scan(r >> 32);
    if (kind < 31) return Write(key, value, sim::Operation::Effect::kPut);
    if (kind < 35) return Write(key, "", sim::Operation::Effect::kPut);
    if (kind < 41) return Write(key, value, sim::Operation::Effect::kCas);
    if (kind < 45) return Write(key, value, sim::Operation::Effect::kCreate);
    return Batch(r >> 32, value);
  }

 private:
  sim::Operation NewOp(const std::string& key) {
    sim::Operation op;
    op.client = c_;
    op.key = key;
    op.invoke = NowNs();
    return op;
  }

  // `version`: the meta.version the read returned with the value (0 when
  // absent). Every write has a unique value and gets a unique version, so a
  // value seen with two different versions is a violation by itself.
  void RecordRead(sim::Operation op, const char* what, uint64_t version) {
    seen_[op.key] = op.value;
    seen_version_[op.key] = version;
    if (!op.value.empty()) rec_->SeeVersion(op.value, version);
    rec_->Add(op, Fmt("%lld c%d n%d %s %s -> '%s'", static_cast<long long>(op.invoke), c_, node_ + 1, what,
                      op.key.c_str(), op.value.c_str()));
  }

  void Get(const std::string& key) {
    sim::Operation op = NewOp(key);
    kv::ObjectResult res;
    grpc::Status st = clients_[node_]->Query(client::NewKeyReader(key), &res);
    op.response = NowNs();
    if (!st.ok()) return;  // a failed read has no effect: not recorded
    uint64_t version = 0;
    if (res.status() == kvspec::kStatusOK && res.items_size() == 1) {
      op.value = client::ValueString(res.items(0));
      version = res.items(0).meta().version();
    } else if (res.status() != kvspec::kStatusNotFound) {
      return;
    }
    RecordRead(op, "get", version);
  }

  // A forward range scan (kvspec 4.2: offset < k < cutset + 0xFF), read as
  // one observation of every key of the key space inside the range.
  void Scan(uint64_t r) {
    const std::string offset = r % 4 == 0 ? "" : KeyName(r % static_cast<uint64_t>(keys_));
    const std::string cutset = KeyName((r >> 16) % static_cast<uint64_t>(keys_));
    const int64_t invoke = NowNs();
    kv::ObjectResult res;
    grpc::Status st = clients_[node_]->Query(client::NewRangeReader(offset, cutset, keys_ + 10), &res);
    const int64_t response = NowNs();
    if (!st.ok() || res.next()) return;
    if (res.status() != kvspec::kStatusOK && res.status() != kvspec::kStatusNotFound) return;
    std::map<std::string, std::string> got;
    std::map<std::string, uint64_t> got_version;
    for (const auto& item : res.items()) {
      got[item.meta().key()] = client::ValueString(item);
      got_version[item.meta().key()] = item.meta().version();
    }
    const std::string upper = cutset + "\xff";
    for (int k = 0; k < keys_; k++) {
      const std::string key = KeyName(static_cast<uint64_t>(k));
      if (!(key > offset && key < upper)) {
        if (got.count(key)) {
          rec_->Note(Fmt("scan (%s, %s] returned %s, outside its range", offset.c_str(), cutset.c_str(), key.c_str()));
          out_of_range++;
        }
        continue;
      }
      sim::Operation op;
      op.client = c_;
      op.key = key;
      op.invoke = invoke;
      op.response = response;
      op.value = got.count(key) ? got[key] : "";
      RecordRead(op, "scan", got.count(key) ? got_version[key] : 0);
    }
  }

  // `by_version` (may be null): set when a CAS went by prev_version.
  kv::ObjectWriter Writer(sim::Operation* op, bool* by_version = nullptr) {
    kv::ObjectWriter w;
    if (op->value.empty()) {
      w.set_mode(kvspec::kWriteModeDelete);
      w.mutable_meta()->set_key(op->key);
      return w;
    }
    w = client::NewWriter(op->key, op->value);
    if (op->effect == sim::Operation::Effect::kCreate) w.set_mode(kvspec::kWriteModeCreate);
    if (op->effect == sim::Operation::Effect::kCas) {
      // Expect what this client saw last (or an older value of ours), by
      // version (prev_version) every other time, else by checksum
      // (prev_data_check). Values and versions are both unique per write, so
      // either way the register must hold exactly that write's value.
      auto it = seen_.find(op->key);
      const bool seen = it != seen_.end() && !it->second.empty();
      op->expected = seen ? it->second : "s" + std::to_string(o_.seed) + "-0";
      if (seen && seen_version_[op->key] > 0 && cas_count_++ % 2 == 0) {
        w.set_prev_version(seen_version_[op->key]);
        if (by_version != nullptr) *by_version = true;
      } else {
        w.set_prev_data_check(client::NewWriter(op->key, op->expected).data().check());
      }
    }
    return w;
  }

  // The server ends an error with "; retry" only when the write was
  // certainly not applied (docs/replication.md). Such a write is left out
  // of the history, so that the checker holds the server to its word. So
  // is one that never left this client (gRPC found no connection: the node
  // is down).
  static bool NotApplied(const grpc::Status& st, const std::string& message) {
    if (!st.ok()) {
      return st.error_code() == grpc::StatusCode::UNAVAILABLE &&
             st.error_message().rfind("failed to connect to all addresses", 0) == 0;
    }
    return message.size() >= 7 && message.compare(message.size() - 7, 7, "; retry") == 0;
  }

  void Finish(sim::Operation op, bool ok, bool refused, const std::string& why, bool not_applied = false) {
    if (not_applied) {
      rejected++;
      rec_->Note(Fmt("%lld c%d n%d %s %s '%s' -> not applied: %s", static_cast<long long>(op.invoke), c_, node_ + 1,
                     EffectName(op), op.key.c_str(), op.value.c_str(), why.c_str()));
      return;
    }
    if (ok || refused) op.response = NowNs();
    op.refused = refused;
    if (ok) {
      ok_writes++;
    } else if (!refused) {
      unknown++;  // failed or timed out: it may still take effect
    }
    const std::string detail = op.effect == sim::Operation::Effect::kCas ? " if '" + op.expected + "'" : "";
    rec_->Add(op, Fmt("%lld c%d n%d %s %s '%s'%s -> %s", static_cast<long long>(op.invoke), c_, node_ + 1,
                      EffectName(op), op.key.c_str(), op.value.c_str(), detail.c_str(),
                      ok        ? "ok"
                      : refused ? "refused"
                                : why.c_str()));
  }

  void Write(const std::string& key, const std::string& value, sim::Operation::Effect effect) {
    sim::Operation op = NewOp(key);
    op.write = true;
    op.value = value;
    op.effect = effect;
    bool by_version = false;
    kv::ObjectWriter w = Writer(&op, &by_version);
    kv::ObjectResult res;
    grpc::Status st = clients_[node_]->Commit(w, &res);
    const bool ok = st.ok() && res.status() == kvspec::kStatusOK;
    const bool refused = st.ok() && effect == sim::Operation::Effect::kCas &&
                         res.status() == kvspec::kStatusClientError &&
                         res.message() == (by_version ? "invalid prev_version" : "invalid prev_data_check");
    Finish(op, ok, refused, st.ok() ? res.message() : st.error_message(),
           !ok && !refused && NotApplied(st, res.message()));
  }

  // 2-3 puts/deletes on distinct keys in one BatchCommit (applied as one
  // atomic batch); each is recorded as a write of its key.
  void Batch(uint64_t r, const std::string& value) {
    kv::BatchRequest req;
    std::vector<sim::Operation> ops;
    const int n = 2 + static_cast<int>(r % 2);
    for (int j = 0; j < n; j++) {
      const std::string key = KeyName((r >> (8 + 8 * j)) % static_cast<uint64_t>(keys_));
      bool dup = false;
      for (const auto& op : ops) dup = dup || op.key == key;
      if (dup) continue;
      sim::Operation op = NewOp(key);
      op.write = true;
      op.value = (r >> (40 + j)) % 5 == 0 ? "" : value + "b" + std::to_string(j);
      *req.add_items()->mutable_writer() = Writer(&op);
      ops.push_back(op);
    }
    kv::BatchResult res;
    grpc::Status st = clients_[node_]->BatchCommit(req, &res);
    bool ok = st.ok() && res.status() == kvspec::kStatusOK && res.items_size() == static_cast<int>(ops.size());
    for (int j = 0; ok && j < res.items_size(); j++) ok = res.items(j).status() == kvspec::kStatusOK;
    bool not_applied = !ok && NotApplied(st, res.message());
    for (int j = 0; !ok && j < res.items_size(); j++) {
      not_applied = not_applied || NotApplied(st, res.items(j).message());
    }
    for (auto& op : ops) Finish(op, ok, false, st.ok() ? res.message() : st.error_message(), not_applied);
  }

 public:
  int out_of_range = 0;

 private:
  const int c_;
  const Options& o_;
  const int keys_;
  testing::ClusterProcess& cluster_;
  Recorder* rec_;
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::map<std::string, std::string> seen_;       // key -> the value this client saw last
  std::map<std::string, uint64_t> seen_version_;  // key -> its version then
  int cas_count_ = 0;
  int node_ = 0;
};

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
                                  testing::ClusterOptions{o.nodes, "", {}, false, false, {}});
  const int keys = std::max(8, o.ops / 40);
  Recorder rec;
  std::atomic<int> next{0};
  std::atomic<bool> done{false};

  // Every node runs kvgo-server-failpoints: the slow-disk fault arms its
  // disk.fsync failpoint.
  for (int i = 0; i < cluster.size(); i++) cluster.node(i).UseFailpoints();
  Partitions partitions;
  if (o.partitions) {
    for (int i = 0; i < cluster.size(); i++) cluster.node(i).RunAs(NodeUid(i));
    if (!partitions.Setup(cluster.size(), &out.error)) return out;
  }
  if (!cluster.StartAll()) {
    out.error = "the cluster did not start";
    return out;
  }
  if (cluster.Leader() < 0) {
    out.error = "no leader elected";
    return out;
  }

  // Faults, one at a time, each leaving a majority that can talk: kill -9
  // and restart of one node, a pause (SIGSTOP) of one node, or (with
  // partitions) a minority cut off from the rest, both ways or one way.
  // The victim is the leader half of the time.
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
      // k: kill -9 or power loss, p: pause, s: slow disk, c: wall-clock
      // jump, n: network partition (twice as likely).
      const std::string kinds = o.partitions ? "kpscnn" : "kpsc";
      const char kind = kinds[(r >> 40) % kinds.size()];
      const long long now = static_cast<long long>(NowNs());
      if (kind == 'k' && (r >> 61) % 2 == 1) {
        // A power loss: the node dies at its next fsync or apply, and its
        // files lose every byte not synced yet (common/failpoint.h). If it
        // does neither within 3 s (no load), it is killed as it is.
        rec.Note(Fmt("%lld fault: power loss on node %d, down for %lld ms", now, victim + 1,
                     static_cast<long long>(hold.count())));
        n.ArmFailpoints("disk.fsync=powerloss;apply.after=powerloss");
        if (n.WaitExit(milliseconds(3000)) < 0) {
          rec.Note(Fmt("%lld node %d did not fsync within 3 s: killed instead", static_cast<long long>(NowNs()),
                       victim + 1));
          n.Signal(SIGKILL);
          n.WaitExit(milliseconds(5000));
          out.kills++;
        } else {
          out.power_losses++;
        }
        n.ArmFailpoints("");
        std::this_thread::sleep_for(hold);
        n.Start();
        n.WaitReady(milliseconds(20000));
      } else if (kind == 'k') {
        rec.Note(Fmt("%lld fault: kill -9 node %d for %lld ms", now, victim + 1, static_cast<long long>(hold.count())));
        kill(n.pid(), SIGKILL);
        n.WaitExit(milliseconds(5000));
        out.kills++;
        std::this_thread::sleep_for(hold);
        n.Start();
        n.WaitReady(milliseconds(20000));
      } else if (kind == 's') {
        const int ms = 20 + static_cast<int>((r >> 48) % 400);
        rec.Note(Fmt("%lld fault: slow disk on node %d (every fsync +%d ms) for %lld ms", now, victim + 1, ms,
                     static_cast<long long>(hold.count())));
        n.ArmFailpoints("disk.fsync=sleep:" + std::to_string(ms));
        out.slow_disks++;
        std::this_thread::sleep_for(hold);
        n.ArmFailpoints("");
      } else if (kind == 'c') {
        // Within the tokens' +-600 s window, so clients and peers still
        // authenticate: leases and reads must not care.
        const long long jump = (static_cast<long long>((r >> 48) % 300) + 1) * 1000 * ((r >> 60) % 2 ? 1 : -1);
        rec.Note(Fmt("%lld fault: node %d's wall clock jumps %+lld s for %lld ms", now, victim + 1, jump / 1000,
                     static_cast<long long>(hold.count())));
        n.ArmFailpoints("clock.wall_offset_ms=value:" + std::to_string(jump));
        out.clock_jumps++;
        std::this_thread::sleep_for(hold);
        n.ArmFailpoints("");
      } else if (kind == 'p') {
        rec.Note(Fmt("%lld fault: pause node %d for %lld ms", now, victim + 1, static_cast<long long>(hold.count())));
        n.Signal(SIGSTOP);
        out.pauses++;
        std::this_thread::sleep_for(hold);
        n.Signal(SIGCONT);
      } else {
        // The minority: the victim, and with 5 nodes one more.
        std::vector<int> minority = {victim};
        if (cluster.size() >= 5) minority.push_back((victim + 1 + static_cast<int>((r >> 48) % 4)) % cluster.size());
        const int way = static_cast<int>((r >> 52) % 3);  // 0 both ways, 1 minority cannot send, 2 cannot receive
        std::string who;
        for (int m : minority) who += (who.empty() ? "" : ",") + std::to_string(m + 1);
        rec.Note(Fmt("%lld fault: partition nodes {%s} %s the rest for %lld ms", now, who.c_str(),
                     way == 0   ? "from"
                     : way == 1 ? "cannot send to"
                                : "cannot receive from",
                     static_cast<long long>(hold.count())));
        bool ok = true;
        for (int m : minority) {
          for (int i = 0; i < cluster.size(); i++) {
            if (std::find(minority.begin(), minority.end(), i) != minority.end()) continue;
            if (way != 2) ok = partitions.Block(m, i) && ok;
            if (way != 1) ok = partitions.Block(i, m) && ok;
          }
        }
        out.partitions++;
        std::this_thread::sleep_for(hold);
        ok = partitions.Heal() && ok;
        if (!ok && out.error.empty()) out.error = "nft failed to install or remove a partition";
      }
      out.faults++;
      rec.Note(Fmt("%lld fault healed: node %d", static_cast<long long>(NowNs()), victim + 1));
    }
  });

  std::vector<std::unique_ptr<Worker>> workers;
  for (int c = 0; c < o.clients; c++) workers.push_back(std::make_unique<Worker>(c, o, keys, cluster, &rec));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.clients; c++) {
    threads.emplace_back([&, c] {
      const int seconds = o.seconds > 0 ? o.seconds : std::max(5, o.ops / 100);
      const auto start = Clock::now();
      for (int i = next++; i < o.ops; i = next++) {
        // Op i is due at i/ops of the run's duration.
        const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(seconds * static_cast<double>(i) / o.ops));
        std::this_thread::sleep_until(due);
        workers[c]->Do(i);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  faults.join();
  for (const auto& w : workers) {
    out.ok_writes += w->ok_writes;
    out.unknown += w->unknown;
    out.rejected += w->rejected;
    out.ops += w->ops;
    out.lost += w->out_of_range;
  }

  // Heal: no partition, every node runs and has applied everything.
  if (o.partitions) partitions.Heal();
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
  out.history = static_cast<int>(history.size());
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

  out.lost += rec.version_conflicts;
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
  const auto digests = cluster.Digests();
  for (int i = 0; i < cluster.size(); i++) {
    const std::string& digest = digests[i].first;
    if (digest != digests[0].first || digest.rfind("error", 0) == 0) {
      out.lost++;
      rec.Note("node " + std::to_string(i + 1) + " table digest " + digest + " differs from node 1's " +
               digests[0].first);
    }
  }

  if (!out.linearizable || out.lost > 0 || !out.error.empty() || o.verbose) Keep(o, rec, cluster, &out);
  return out;
}

}  // namespace kvgo::nemesis
