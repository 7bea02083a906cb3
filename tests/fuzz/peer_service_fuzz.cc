// libFuzzer target: what the peer service checks of a caller before any
// consensus code runs, and what a leader checks of a forwarded write. The
// input is split at 0x00 bytes into: the x-kvgo-peer-auth header, the
// method name, a serialized ForwardBatchRequest. A token signed with the
// right key is also tried, altered at a fuzzer-chosen byte: only the
// unaltered one may verify.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "auth/keyring.h"
#include "peer.pb.h"
#include "replication/peer_token.h"
#include "server/authz.h"

namespace {

constexpr int64_t kNow = 1700000000000;
const std::string kKey(32, 'k');

std::vector<std::string> Split(const uint8_t* data, size_t size) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; i++) {
    if (data[i] == 0 && out.size() < 3) {
      out.emplace_back();
    } else {
      out.back().push_back(static_cast<char>(data[i]));
    }
  }
  out.resize(3);
  return out;
}

kvgo::auth::Keyring& Keys() {
  static kvgo::auth::Keyring* ring = [] {
    auto* r = new kvgo::auth::Keyring();
    r->SetRootKeys({kvgo::auth::MakeRootKey("00000000", "root-secret-0123456789")});
    hooto::hauth::v1::AccessKey scoped;
    scoped.set_id("app1");
    scoped.set_secret("app-secret-0123456789");
    scoped.add_roles("sa");
    auto* s = scoped.add_scopes();
    s->set_name(kvgo::auth::kScopeTable);
    s->set_value("orders, main");
    r->Put(scoped);
    return r;
  }();
  return *ring;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> parts = Split(data, size);
  const std::string& header = parts[0];
  const std::string& method = parts[1];
  const uint32_t node = size > 0 ? data[0] : 0;
  const uint64_t cluster = size > 1 ? data[1] : 0;

  // The only headers that verify are tokens signed with the key, exactly.
  if (kvgo::replication::VerifyPeerToken(header, kKey, method, node, cluster, kNow).ok()) {
    const int64_t ms = std::strtoll(header.c_str() + 2, nullptr, 10);  // "1.<ms>.<mac>"
    if (header != kvgo::replication::SignPeerToken(kKey, method, node, cluster, ms)) __builtin_trap();
  }
  std::string token = kvgo::replication::SignPeerToken(kKey, method, node, cluster, kNow);
  if (!kvgo::replication::VerifyPeerToken(token, kKey, method, node, cluster, kNow).ok()) __builtin_trap();
  if (!token.empty() && size > 2) {
    token[data[2] % token.size()] ^= static_cast<char>(size > 3 && data[3] != 0 ? data[3] : 1);
    if (kvgo::replication::VerifyPeerToken(token, kKey, method, node, cluster, kNow).ok()) __builtin_trap();
  }

  // A forwarded batch: the leader's check of each command, by a scoped
  // administrator's key and by an unknown key.
  kvgo::peer::pb::ForwardBatchRequest batch;
  if (batch.ParseFromString(parts[2])) {
    for (auto cmd : batch.commands()) {
      for (const char* id : {"app1", "nobody"}) {
        cmd.set_auth_key_id(id);
        auto denied = kvgo::server::DenyForwarded(cmd, Keys());
        if (std::string(id) == "nobody" && !denied) __builtin_trap();
        if (denied && denied->results_size() < 1) __builtin_trap();
      }
    }
  }
  return 0;
}
