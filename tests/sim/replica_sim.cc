#include "replica_sim.h"

#include <absl/strings/match.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "common/checksum.h"
#include "common/kvspec.h"
#include "linearizability.h"
#include "replication/replica_cluster.h"

namespace kvgo::sim {

namespace {

namespace kv = lynkdb::kvspec::v2;
using replication::testing::ClusterFaults;
using replication::testing::ClusterOptions;
using replication::testing::ReplicaCluster;

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

class Run {
 public:
  Run(uint64_t seed, const ReplicaSimOptions& o)
      : seed_(seed), o_(o), c_("sim-" + std::to_string(seed), Options(seed, o)) {
    busy_.assign(o.clients, false);
  }

  static ClusterOptions Options(uint64_t seed, const ReplicaSimOptions& o) {
    ClusterOptions c{static_cast<size_t>(o.nodes), seed, o.bug_count_unpersisted, o.bug_retry_unknown};
    c.bug_keep_stale_keys = o.bug_keep_stale_keys;
    c.bug_vote_despite_live_leader = o.bug_vote_despite_live_leader;
    c.bug_skip_log_sync = o.bug_skip_log_sync;
    c.max_clock_drift = o.max_clock_drift;
    c.log_keep_entries = o.log_keep_entries > 0 ? o.log_keep_entries : seed % 2 == 0 ? 8 : 1 << 30;
    return c;
  }

  ReplicaSimResult Go() {
    c_.SetFaults(ClusterFaults{0.03, 0.02, 20, 0.1, o_.crash_in_persist, o_.power_loss, o_.slow_fsync});
    const int64_t fault_end = Now() + o_.fault_ms;
    while (Now() < fault_end) {
      ChangeAnswered();
      Inject();
      if (o_.membership_changes > 0 && Chance(o_.membership_changes)) ChangeMembership();
      Clients();
      c_.RunFor(std::chrono::milliseconds(20));
    }
    // Heal: no more faults, every node up, every link back.
    c_.SetFaults(ClusterFaults{});
    c_.HealLinks();
    for (size_t i = 0; i < c_.size(); i++) c_.Restart(i);
    const uint64_t acked_before = r_.acknowledged;
    const int64_t heal_end = Now() + o_.heal_ms;
    while (Now() < heal_end) {
      Clients();
      RestoreMembership();
      c_.RunFor(std::chrono::milliseconds(20));
    }
    // Each step of the restore needs a leader; a voter that installs a
    // snapshot takes no messages meanwhile, which can hold elections up for
    // seconds in a cluster of two voters.
    const int64_t restore_end = Now() + 30000;
    while (!AllVoters() && Now() < restore_end) {
      RestoreMembership();
      c_.RunFor(std::chrono::milliseconds(20));
    }
    if (!AllVoters()) r_.violations.push_back("the membership could not be restored 30 s after healing");
    if (r_.acknowledged == acked_before) r_.violations.push_back("no write acknowledged after healing");
    // Drain: every client's last call answered, every node applied all.
    c_.RunUntil([&] {
      for (bool b : busy_) {
        if (b) return false;
      }
      return c_.AllApplied();
    });
    // A final read of every key through every node.
    for (int k = 0; k < o_.keys; k++) {
      for (size_t n = 0; n < c_.size(); n++) Get(0, n, Key(k));
    }
    c_.RunUntil([&] { return !busy_[0] && reads_left_ == 0; });
    r_.snapshots = c_.snapshots_installed();
    r_.installs_aborted = c_.installs_aborted();
    r_.power_cuts = c_.power_cuts();
    r_.bytes_lost = c_.bytes_lost();
    r_.slow_fsyncs = c_.slow_fsyncs();
    const std::string d0 = c_.Digest(0);
    for (size_t n = 1; n < c_.size(); n++) {
      if (c_.Digest(n) != d0) r_.violations.push_back(Fmt("replica %zu's data differs from replica 1's", n + 1));
    }
    auto lin = CheckLinearizable(history_);
    if (!lin.ok) r_.violations.push_back("history of key " + lin.key + " is not linearizable");
    return std::move(r_);
  }

 private:
  int64_t Now() { return c_.clock().MonotonicMs(); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(c_.rng()) < p; }

  // The node that leads and serves, if any.
  std::optional<size_t> Leader() {
    for (size_t i = 0; i < c_.size(); i++) {
      if (c_.up(i) && c_.view(i).leader_ready) return i;
    }
    return std::nullopt;
  }

  // Asks the leader for a random membership change or a transfer; the
  // answer comes as the cluster runs (a refusal is fine).
  void ChangeMembership() {
    const auto l = Leader();
    if (!l || change_ != nullptr) return;
    consensus::Membership next = c_.view(*l).membership;
    const size_t pick = Rand(c_.size());
    const consensus::NodeId id = c_.id(pick);
    std::string what;
    switch (Rand(4)) {
      case 0:  // demote a voter (perhaps the leader)
        if (!next.IsVoter(id) || next.voters.size() <= 1) return;
        next.voters.erase(std::find(next.voters.begin(), next.voters.end(), id));
        next.learners.push_back(id);
        what = "demote";
        break;
      case 1:  // promote a learner, or add a removed node as one
        if (next.IsVoter(id)) return;
        if (next.Contains(id)) {
          next.learners.erase(std::find(next.learners.begin(), next.learners.end(), id));
          next.voters.push_back(id);
          what = "promote";
        } else {
          next.learners.push_back(id);
          what = "add learner";
        }
        break;
      case 2:  // remove a learner
        if (next.IsVoter(id) || !next.Contains(id)) return;
        next.learners.erase(std::find(next.learners.begin(), next.learners.end(), id));
        what = "remove";
        break;
      default: {
        if (pick == *l) return;
        const Status s = c_.TransferLeadership(*l, pick);
        r_.transfers += s.ok();
        Note(Fmt("%lld transfer n%zu -> n%zu: %s", static_cast<long long>(Now()), *l + 1, pick + 1,
                 s.ok() ? "started" : std::string(s.message()).c_str()));
        return;
      }
    }
    next.Normalize();
    change_ = c_.ChangeMembership(*l, next);
    change_at_ = Now();
    change_what_ = Fmt("%lld n%zu: %s n%zu -> %s", static_cast<long long>(Now()), *l + 1, what.c_str(), pick + 1,
                       next.ToString().c_str());
  }

  // Notes the answer of the change in flight, if it came. A node that
  // crashed never answers: after a while its change is given up (it may or
  // may not have been made).
  void ChangeAnswered() {
    if (change_ == nullptr) return;
    if (!change_->has_value()) {
      if (Now() - change_at_ < 5000) return;
      Note(change_what_ + ": no answer");
      change_.reset();
      return;
    }
    r_.changes += (*change_)->ok();
    Note(change_what_ + ": " + ((*change_)->ok() ? "done" : std::string((*change_)->message())));
    change_.reset();
  }

  bool AllVoters() {
    const auto l = Leader();
    return l && c_.view(*l).membership.voters.size() == c_.size() && !c_.view(*l).membership_changing;
  }

  // After healing: every node a voter again, one change at a time.
  void RestoreMembership() {
    ChangeAnswered();
    const auto l = Leader();
    if (!l || change_ != nullptr || AllVoters()) return;
    consensus::Membership next = c_.view(*l).membership;
    for (size_t i = 0; i < c_.size(); i++) {
      const consensus::NodeId id = c_.id(i);
      if (next.IsVoter(id)) continue;
      if (next.Contains(id)) {
        next.learners.erase(std::find(next.learners.begin(), next.learners.end(), id));
        next.voters.push_back(id);
      } else {
        next.learners.push_back(id);
      }
      break;
    }
    next.Normalize();
    change_ = c_.ChangeMembership(*l, next);
    change_at_ = Now();
    change_what_ = Fmt("%lld n%zu: restore -> %s", static_cast<long long>(Now()), *l + 1, next.ToString().c_str());
  }
  uint64_t Rand(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(c_.rng()); }
  static std::string Key(int k) { return "k" + std::to_string(k); }
  void Note(const std::string& line) {
    if (o_.trace) r_.trace += line + "\n";
  }

  void Inject() {
    const size_t n = c_.size();
    const uint64_t roll = Rand(1000);
    if (roll < 6) {
      const size_t victim = Rand(n);
      if (c_.up(victim)) {
        const uint64_t cuts = c_.power_cuts();
        c_.Crash(victim);
        r_.crashes++;
        Note(Fmt("%lld %s n%zu", static_cast<long long>(Now()), c_.power_cuts() > cuts ? "power cut" : "crash",
                 victim + 1));
      }
    } else if (roll < 40) {
      for (size_t i = 0; i < n; i++) {
        if (!c_.up(i)) {
          c_.Restart(i);
          Note(Fmt("%lld restart n%zu", static_cast<long long>(Now()), i + 1));
        }
      }
    } else if (roll < 46) {
      const size_t a = Rand(n), b = Rand(n);
      if (a != b) {
        c_.Cut(a, b);
        if (Rand(2) == 0) c_.Cut(b, a);
        Note(Fmt("%lld cut n%zu-n%zu", static_cast<long long>(Now()), a + 1, b + 1));
      }
    } else if (roll < 52) {
      // Half the time the leader: clients that still reach it test its
      // lease while the others elect a new one.
      size_t victim = Rand(n);
      if (Rand(2) == 0) {
        for (size_t i = 0; i < n; i++) {
          if (c_.up(i) && c_.view(i).leader_ready) victim = i;
        }
      }
      c_.Isolate(victim);
      Note(Fmt("%lld isolate n%zu", static_cast<long long>(Now()), victim + 1));
    } else if (roll < heal_roll_) {
      c_.HealLinks();
    }
  }

  void Clients() {
    for (int cl = 0; cl < o_.clients; cl++) {
      if (busy_[cl] || Rand(3) != 0) continue;
      const size_t node = Rand(c_.size());
      const std::string key = Key(static_cast<int>(Rand(o_.keys)));
      const uint64_t kind = Rand(100);
      if (kind < 6) {
        Scan(cl, node);
      } else if (kind < 30) {
        Get(cl, node, key);
      } else if (kind >= 62 && kind < 72 && o_.keys > 1) {
        Batch(cl, node);
      } else {
        Write(cl, node, key, kind);
      }
    }
  }

  void Get(int cl, size_t node, const std::string& key) {
    busy_[cl] = true;
    reads_left_++;
    r_.operations++;
    kv::ObjectReader reader;
    reader.set_mode(kvspec::kReadModeKey);
    reader.set_table_name("main");
    reader.add_keys(key);
    const int64_t invoke = Now();
    const auto deadline = c_.clock().SteadyNow() + std::chrono::seconds(3);
    c_.Read(node, reader, deadline, [this, cl, node, key, invoke](StatusOr<kv::ObjectResult> res) {
      busy_[cl] = false;
      reads_left_--;
      std::string value;
      if (!res.ok()) return;  // no observation
      if (res->status() == kvspec::kStatusOK && res->items_size() > 0) {
        value = res->items(0).data().value();
      } else if (res->status() != kvspec::kStatusNotFound) {
        return;
      }
      Operation op;
      op.client = cl;
      op.key = key;
      op.value = value;
      op.invoke = invoke;
      op.response = Now();
      history_.push_back(op);
      if (!value.empty()) seen_[key] = value;
      Note(Fmt("%lld c%d n%zu get %s -> '%s'", static_cast<long long>(invoke), cl, node + 1, key.c_str(),
               value.c_str()));
    });
  }

  // A range read of every key: one observation of each key (absent ones
  // read as ""), all at the scan's time.
  void Scan(int cl, size_t node) {
    busy_[cl] = true;
    reads_left_++;
    r_.operations++;
    kv::ObjectReader reader;
    reader.set_mode(kvspec::kReadModeKeyRange);
    reader.set_table_name("main");
    reader.set_key_offset("k");
    reader.set_key_cutset("l");
    reader.set_limit_num(o_.keys + 10);
    const int64_t invoke = Now();
    const auto deadline = c_.clock().SteadyNow() + std::chrono::seconds(3);
    c_.Read(node, reader, deadline, [this, cl, node, invoke](StatusOr<kv::ObjectResult> res) {
      busy_[cl] = false;
      reads_left_--;
      if (!res.ok() || (res->status() != kvspec::kStatusOK && res->status() != kvspec::kStatusNotFound)) return;
      std::map<std::string, std::string> found;
      for (const auto& item : res->items()) found[item.meta().key()] = item.data().value();
      std::string seen;
      for (int k = 0; k < o_.keys; k++) {
        Operation op;
        op.client = cl;
        op.key = Key(k);
        op.value = found.count(op.key) > 0 ? found[op.key] : "";
        op.invoke = invoke;
        op.response = Now();
        history_.push_back(op);
        if (!op.value.empty()) seen_[op.key] = op.value;
        seen += " " + op.key + "='" + op.value + "'";
      }
      Note(Fmt("%lld c%d n%zu scan ->%s", static_cast<long long>(invoke), cl, node + 1, seen.c_str()));
    });
  }

  // One BatchCommit: a put of one key and a put or delete of another.
  void Batch(int cl, size_t node) {
    busy_[cl] = true;
    r_.operations++;
    const int a = static_cast<int>(Rand(o_.keys));
    const int b = (a + 1 + static_cast<int>(Rand(o_.keys - 1))) % o_.keys;
    storage::pb::Command cmd;
    cmd.set_now_ms(c_.clock().NowMs());
    std::vector<Operation> ops;
    for (int k : {a, b}) {
      Operation op;
      op.client = cl;
      op.write = true;
      op.key = Key(k);
      op.invoke = Now();
      kv::ObjectWriter* w = cmd.mutable_write()->add_writers();
      w->set_table_name("main");
      w->mutable_meta()->set_key(op.key);
      if (k == b && Rand(3) == 0) {
        w->set_mode(kvspec::kWriteModeDelete);
      } else {
        op.value = Fmt("s%llu-c%d-%llu", static_cast<unsigned long long>(seed_), cl,
                       static_cast<unsigned long long>(++values_));
        w->mutable_data()->set_value(op.value);
        w->mutable_data()->set_check(ValueCheck(op.value));
        w->mutable_meta()->set_data_check(w->data().check());
      }
      ops.push_back(op);
    }
    c_.Submit(node, std::move(cmd), [this, cl, node, ops](StatusOr<storage::pb::CommandResult> res) mutable {
      busy_[cl] = false;
      std::string outcome = "ok";
      bool ok = res.ok() && res->results_size() == 2;
      for (int i = 0; ok && i < 2; i++) ok = res->results(i).status() == kvspec::kStatusOK;
      if (ok) {
        r_.acknowledged++;
        for (auto& op : ops) {
          op.response = Now();
          if (!op.value.empty()) seen_[op.key] = op.value;
        }
      } else if (!res.ok() && absl::IsUnavailable(res.status()) && absl::EndsWith(res.status().message(), "; retry")) {
        Note(Fmt("%lld c%d n%zu batch %s %s -> not applied", static_cast<long long>(ops[0].invoke), cl, node + 1,
                 ops[0].key.c_str(), ops[1].key.c_str()));
        return;
      } else {
        r_.unknown++;
        outcome = res.ok() ? (res->results_size() > 0 ? res->results(0).message() : "no result")
                           : std::string(res.status().message());
      }
      Note(Fmt("%lld c%d n%zu batch %s='%s' %s='%s' -> %s", static_cast<long long>(ops[0].invoke), cl, node + 1,
               ops[0].key.c_str(), ops[0].value.c_str(), ops[1].key.c_str(), ops[1].value.c_str(), outcome.c_str()));
      for (auto& op : ops) history_.push_back(op);
    });
  }

  void Write(int cl, size_t node, const std::string& key, uint64_t kind) {
    busy_[cl] = true;
    r_.operations++;
    Operation op;
    op.client = cl;
    op.write = true;
    op.key = key;
    op.invoke = Now();
    storage::pb::Command cmd;
    cmd.set_now_ms(c_.clock().NowMs());
    kv::ObjectWriter* w = cmd.mutable_write()->add_writers();
    w->set_table_name("main");
    w->mutable_meta()->set_key(key);
    if (kind < 40) {
      w->set_mode(kvspec::kWriteModeDelete);
    } else {
      op.value =
          Fmt("s%llu-c%d-%llu", static_cast<unsigned long long>(seed_), cl, static_cast<unsigned long long>(++values_));
      w->mutable_data()->set_value(op.value);
      w->mutable_data()->set_check(ValueCheck(op.value));
      w->mutable_meta()->set_data_check(w->data().check());
      if (kind < 55) {
        op.effect = Operation::Effect::kCas;
        auto it = seen_.find(key);
        op.expected = it != seen_.end() ? it->second : "never-written";
        w->set_prev_data_check(ValueCheck(op.expected));
      } else if (kind < 62) {
        op.effect = Operation::Effect::kCreate;
        w->set_mode(kvspec::kWriteModeCreate);
      }
    }
    c_.Submit(node, std::move(cmd), [this, cl, node, op](StatusOr<storage::pb::CommandResult> res) mutable {
      busy_[cl] = false;
      std::string outcome;
      if (res.ok() && res->results_size() == 1 && res->results(0).status() == kvspec::kStatusOK) {
        op.response = Now();
        r_.acknowledged++;
        if (!op.value.empty()) seen_[op.key] = op.value;
        outcome = "ok";
      } else if (res.ok() && res->results_size() == 1 && op.effect == Operation::Effect::kCas &&
                 res->results(0).status() == kvspec::kStatusClientError &&
                 res->results(0).message() == "invalid prev_data_check") {
        op.response = Now();
        op.refused = true;
        outcome = "refused";
      } else if (!res.ok() && absl::IsUnavailable(res.status()) && absl::EndsWith(res.status().message(), "; retry")) {
        // The server's word: certainly not applied. Left out of the
        // history, so that the checker holds the server to it.
        Note(Fmt("%lld c%d n%zu write %s '%s' -> not applied: %s", static_cast<long long>(op.invoke), cl, node + 1,
                 op.key.c_str(), op.value.c_str(), std::string(res.status().message()).c_str()));
        return;
      } else {
        r_.unknown++;  // may take effect at any time, or never
        outcome = res.ok() ? (res->results_size() > 0 ? res->results(0).message() : "no result")
                           : std::string(res.status().message());
      }
      Note(Fmt("%lld c%d n%zu write %s '%s'%s -> %s", static_cast<long long>(op.invoke), cl, node + 1, op.key.c_str(),
               op.value.c_str(), op.effect == Operation::Effect::kCas ? (" if '" + op.expected + "'").c_str() : "",
               outcome.c_str()));
      history_.push_back(op);
    });
  }

  const uint64_t seed_;
  const ReplicaSimOptions o_;
  // Links heal at once per 20 ms with this in 1000, less 52: partitions
  // last under a second, or (long_partitions) seconds.
  const uint64_t heal_roll_ = o_.long_partitions ? 56 : 80;
  ReplicaSimResult r_;
  std::shared_ptr<std::optional<Status>> change_;  // the membership change in flight
  std::string change_what_;
  int64_t change_at_ = 0;
  std::vector<bool> busy_;
  int reads_left_ = 0;
  uint64_t values_ = 0;
  std::map<std::string, std::string> seen_;  // the last value a client saw or wrote, per key
  std::vector<Operation> history_;
  // Last, so that it goes first: its destructor fails the calls still in
  // flight, whose callbacks write to the members above.
  ReplicaCluster c_;
};

}  // namespace

ReplicaSimResult RunReplicaSimulation(uint64_t seed, const ReplicaSimOptions& options) {
  spdlog::level::level_enum level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  ReplicaSimResult r = Run(seed, options).Go();
  spdlog::set_level(level);
  return r;
}

}  // namespace kvgo::sim
