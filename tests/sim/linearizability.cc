#include "linearizability.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace kvgo::sim {

namespace {

struct Event {
  int64_t time;
  bool call;  // call or return
  int op;
};

// Whether `op` can take effect on a register holding `state`, and what it
// holds afterwards.
bool Step(const Operation& op, const std::string& state, std::string* next) {
  *next = state;
  if (!op.write) return op.value == state;
  const bool absent = state.empty();
  switch (op.effect) {
    case Operation::Effect::kPut:
      *next = op.value;
      return true;
    case Operation::Effect::kCreate:
      if (absent) *next = op.value;
      return true;
    case Operation::Effect::kCas:
      if (op.refused) return !absent && state != op.expected;
      if (!absent && state != op.expected) return false;
      *next = op.value;
      return true;
  }
  return false;
}

// Depth-first search over "which op takes effect next", as in Porcupine:
// the candidates are the ops whose call came before the earliest return
// among the not-yet-linearized ops.
class Search {
 public:
  explicit Search(const std::vector<Operation>& ops) : ops_(ops), n_(ops.size()) {}

  bool Run() {
    std::vector<bool> done(n_, false);
    return Dfs(done, "", 0);
  }

 private:
  bool Dfs(std::vector<bool>& done, const std::string& state, size_t count) {
    if (count == n_) return true;
    std::string memo_key(n_, '0');
    for (size_t i = 0; i < n_; i++) memo_key[i] = done[i] ? '1' : '0';
    memo_key += '\x01';
    memo_key += state;
    if (!seen_.insert(memo_key).second) return false;
    // The earliest response among pending ops bounds who may go next.
    int64_t bound = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < n_; i++) {
      if (!done[i]) bound = std::min(bound, ops_[i].response);
    }
    for (size_t i = 0; i < n_; i++) {
      if (done[i] || ops_[i].invoke > bound) continue;
      const Operation& op = ops_[i];
      std::string next;
      if (!Step(op, state, &next)) continue;  // the op cannot take effect here
      done[i] = true;
      if (Dfs(done, next, count + 1)) return true;
      done[i] = false;
    }
    // A timed-out write may also never take effect; a timed-out read has
    // no observable result. Either can be dropped when nothing else fits.
    for (size_t i = 0; i < n_; i++) {
      if (done[i] || ops_[i].response != std::numeric_limits<int64_t>::max()) continue;
      done[i] = true;
      if (Dfs(done, state, count + 1)) return true;
      done[i] = false;
      break;  // dropping any one of them is equivalent for the memo
    }
    return false;
  }

  const std::vector<Operation>& ops_;
  const size_t n_;
  std::unordered_set<std::string> seen_;
};

}  // namespace

bool CheckRegister(const std::vector<Operation>& ops) { return Search(ops).Run(); }

LinearizabilityResult CheckLinearizable(const std::vector<Operation>& history) {
  std::map<std::string, std::vector<Operation>> by_key;
  for (const auto& op : history) by_key[op.key].push_back(op);
  for (const auto& [key, ops] : by_key) {
    if (!CheckRegister(ops)) return {false, key};
  }
  return {};
}

}  // namespace kvgo::sim
