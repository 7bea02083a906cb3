// A per-key linearizability checker for register histories (Wing & Gong's
// search with Lowe's memoisation of (linearized set, state), as Porcupine
// does). An operation that timed out has an infinite response time: it may
// take effect at any point after its invocation, or never (it can always be
// placed after everything that observed the register).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace kvgo::sim {

struct Operation {
  int client = 0;
  bool write = false;
  std::string key;
  std::string value;  // written, or read ("" = absent)
  int64_t invoke = 0;
  int64_t response = std::numeric_limits<int64_t>::max();  // max = timed out

  // How a write changes the register:
  //   kPut     to `value` ("" = delete);
  //   kCreate  to `value` if absent, else leaves it (kvspec's Create mode);
  //   kCas     to `value` if it holds `expected` or is absent (kvspec's
  //            prev_data_check, which is not checked on an absent key).
  enum class Effect { kPut, kCreate, kCas };
  Effect effect = Effect::kPut;
  std::string expected;
  // A kCas that was refused: it took effect as an observation that the
  // register held neither `expected` nor nothing, and changed nothing.
  bool refused = false;
};

struct LinearizabilityResult {
  bool ok = true;
  std::string key;  // the first key whose history is not linearizable
};

// Checks every key's history independently. `max_ops_per_key` bounds the
// search (histories are expected to be short per key).
LinearizabilityResult CheckLinearizable(const std::vector<Operation>& history);

// One register's history (all ops on one key). Initial value "".
bool CheckRegister(const std::vector<Operation>& ops);

}  // namespace kvgo::sim
