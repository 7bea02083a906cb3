// PublicService's SysCmd methods (docs/wire-api.md 7): tables, access keys,
// node status and metrics. Who may call which: server/authz.h.
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "auth/token.h"
#include "common/checksum.h"
#include "common/kvspec.h"
#include "server/authz.h"
#include "server/kv_service.h"
#include "server/results.h"
#include "server/sys_metrics.h"
#include "server/validate.h"
#include "storage.pb.h"

namespace kvgo::server {

namespace kv = lynkdb::kvspec::v2;
using nlohmann::json;

namespace {

// A server-generated item value: 0x02 then JSON (docs/wire-api.md 3.1).
void SetJsonValue(const json& j, kv::ObjectItem* item) {
  std::string value = "\x02" + j.dump();
  item->mutable_data()->set_check(ValueCheck(value));
  item->mutable_meta()->set_data_check(item->data().check());
  item->mutable_data()->set_value(std::move(value));
}

// The secret as AccessKeyList shows it: whole (a stored key asked for by
// id), masked as the reference masks (first and last 4 characters), or
// not at all (a root key: its secret is the config's, never sent).
enum class SecretView { kWhole, kMasked, kHidden };

json AccessKeyJson(const hooto::hauth::v1::AccessKey& k, SecretView view) {
  json j = json::object();
  if (!k.id().empty()) j["id"] = k.id();
  if (!k.secret().empty()) {
    const std::string& s = k.secret();
    switch (view) {
      case SecretView::kWhole:
        j["secret"] = s;
        break;
      case SecretView::kMasked:
        j["secret"] = s.size() > 8 ? s.substr(0, 4) + "********" + s.substr(s.size() - 4) : std::string("********");
        break;
      case SecretView::kHidden:
        j["secret"] = "********";
        break;
    }
  }
  if (!k.user().empty()) j["user"] = k.user();
  if (k.status() != 0) j["status"] = k.status();
  if (k.roles_size() > 0) j["roles"] = std::vector<std::string>(k.roles().begin(), k.roles().end());
  if (k.scopes_size() > 0) {
    json scopes = json::array();
    for (const auto& s : k.scopes()) {
      json sj = json::object();
      if (!s.name().empty()) sj["name"] = s.name();
      if (!s.value().empty()) sj["value"] = s.value();
      scopes.push_back(sj);
    }
    j["scopes"] = scopes;
  }
  if (!k.description().empty()) j["description"] = k.description();
  return j;
}

std::string RandomString(size_t n, std::string_view alphabet) {
  std::string out;
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof(buf)) != 1) {
      spdlog::critical("no random bytes from OpenSSL");
      std::abort();
    }
    for (unsigned char c : buf) {
      // Rejection sampling keeps the distribution uniform.
      if (c >= 256 - (256 % alphabet.size())) continue;
      out.push_back(alphabet[c % alphabet.size()]);
      if (out.size() == n) break;
    }
  }
  return out;
}

int64_t ReadRssBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages = 0;
  int64_t rss = 0;
  if (!(in >> pages >> rss)) return 0;
  return rss * sysconf(_SC_PAGESIZE);
}

}  // namespace

void PublicService::TableSet(const auth::Principal& p, const std::string& body, ResultCallback done) const {
  kv::TableSetRequest req;
  if (!req.ParseFromString(body)) {
    return done(ClientError("proto: cannot parse invalid wire-format data"));
  }
  if (!ValidTableName(req.name())) return done(ClientError("invalid table name"));
  if (Status s = auth::Authorize(*p, auth::kPermTableWrite, req.name()); !s.ok()) {
    return done(Denied(absl::StrCat("table (", req.name(), ") ", s.message())));
  }
  storage::pb::Command cmd;
  cmd.set_now_ms(static_cast<uint64_t>(ctx_.clock->NowMs()));
  cmd.mutable_table_set()->set_name(req.name());
  cmd.mutable_table_set()->set_desc(req.desc());
  Execute(p, std::move(cmd), std::move(done));
}

void PublicService::TableList(const auth::Principal& p, kv::ObjectResult* out) const {
  out->set_status(kvspec::kStatusOK);
  for (const auto& t : ctx_.catalog->Tables()) {
    if (t.name() == kvspec::kSysTable) continue;
    // A key scoped to some tables sees only those.
    if (!auth::Authorize(*p, auth::kPermTableList, t.name()).ok()) continue;
    kv::ObjectItem* item = out->add_items();
    item->mutable_meta()->set_key("sys:table:" + t.name());
    item->mutable_meta()->set_version(t.version());
    item->mutable_meta()->set_incr_id(t.id());
    item->mutable_meta()->set_created(t.created());
    item->mutable_meta()->set_updated(t.updated());
    json status = {{"name", t.name()}, {"db_size", ctx_.query->TableSize(t.id())}};
    status["states"] = {{"log_id", std::to_string(ctx_.catalog->LogVersion(t.id()))}};
    json j = {{"name", t.name()}, {"status", status}};
    if (!t.desc().empty()) j["desc"] = t.desc();
    SetJsonValue(j, item);
  }
  if (out->items_size() == 0) out->set_status(kvspec::kStatusNotFound);
}

void PublicService::AccessKeySet(const auth::Principal& p, const std::string& body, ResultCallback done) const {
  hooto::hauth::v1::AccessKey key;
  if (!key.ParseFromString(body)) {
    return done(ClientError("proto: cannot parse invalid wire-format data"));
  }
  if (Status s = auth::NormalizeAccessKey(&key); !s.ok()) {
    return done(ClientError(std::string(s.message())));
  }
  storage::pb::Command cmd;
  cmd.set_now_ms(static_cast<uint64_t>(ctx_.clock->NowMs()));
  auto* c = cmd.mutable_access_key_set();
  auth::Principal existing;
  if (key.id().empty()) {
    key.set_id(RandomString(16, "0123456789abcdef"));
    key.set_secret(RandomString(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
    c->set_create(true);
  } else {
    if (ctx_.keyring->IsRoot(key.id())) {
      // The reference would update the root key's roles in memory until its
      // next restart; here root keys are the config's alone.
      return done(ClientError("access key " + key.id() +
                              " is a root key from the config file ([server] or [[cluster.masters]] "
                              "auth_secret_key); it cannot be changed with AccessKeySet"));
    }
    existing = ctx_.keyring->FindStored(key.id());
    if (existing == nullptr) return done(ClientError("access key not found"));
    if (!ValidAccessKeyId(key.id())) return done(ClientError("invalid access key id"));
  }
  if (Status s = AuthorizeKeySet(*p, existing.get(), key); !s.ok()) return done(Denied(s.message()));
  *c->mutable_key() = std::move(key);
  Execute(p, std::move(cmd), std::move(done));
}

void PublicService::AccessKeyList(const auth::Principal& p, const std::string& body, kv::ObjectResult* out) const {
  out->set_status(kvspec::kStatusOK);
  if (!body.empty()) {
    if (!ValidAccessKeyId(body)) {
      *out = ClientError("invalid access key id");
      return;
    }
    if (ctx_.keyring->IsRoot(body)) {
      // Shown, but never its secret: that is the config's.
      if (!IsFullAdmin(*p)) return;
      kv::ObjectItem* item = out->add_items();
      item->mutable_meta()->set_key(body);
      SetJsonValue(AccessKeyJson(*ctx_.keyring->Find(body), SecretView::kHidden), item);
      return;
    }
    if (auth::Principal k = ctx_.keyring->FindStored(body)) {
      if (!WithinScope(*p, *k)) {
        *out = Denied("access key " + body + " reaches tables outside this key's scope");
        return;
      }
      kv::ObjectItem* item = out->add_items();
      item->mutable_meta()->set_key(k->id());
      SetJsonValue(AccessKeyJson(*k, SecretView::kWhole), item);
    }
    return;
  }
  for (const auto& k : ctx_.keyring->List()) {
    const bool root = ctx_.keyring->FindStored(k->id()) != k;
    if (root ? !IsFullAdmin(*p) : !WithinScope(*p, *k)) continue;
    kv::ObjectItem* item = out->add_items();
    item->mutable_meta()->set_key(k->id());
    SetJsonValue(AccessKeyJson(*k, root ? SecretView::kHidden : SecretView::kMasked), item);
  }
  if (out->items_size() == 0) out->set_status(kvspec::kStatusNotFound);
}

void PublicService::SysStatus(kv::ObjectResult* out) const {
  const int64_t now_s = ctx_.clock->NowMs() / 1000;
  json caps = json::object();
  caps["cpu"] = {{"use", static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN))}};
  caps["mem"] = {{"use", ReadRssBytes()},
                 {"max", static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE)}};
  struct statvfs vfs;
  int64_t disk_max = 0;
  if (statvfs(ctx_.store->directory().c_str(), &vfs) == 0) {
    disk_max = static_cast<int64_t>(vfs.f_blocks) * static_cast<int64_t>(vfs.f_frsize);
  }
  json tables = json::array();
  int64_t disk_use = 0;
  for (const auto& t : ctx_.catalog->Tables()) {
    const uint64_t size = ctx_.query->TableSize(t.id());
    disk_use += static_cast<int64_t>(size);
    if (t.name() == kvspec::kSysTable) continue;
    tables.push_back({{"name", t.name()}, {"db_size", size}});
  }
  caps["disk"] = {{"use", disk_use}, {"max", disk_max}};
  json node = {{"id", ctx_.node_id},      {"addr", ctx_.node_addr},
               {"version", KVGO_VERSION}, {"uptime", ctx_.started_unix_s},
               {"updated", now_s},        {"caps", caps}};
  json status = {{"id", ctx_.node_id}, {"nodes", json::array({node})}, {"tables", tables}};
  if (ctx_.cluster) {
    // Not in the original's SysStatus; SDKs ignore unknown JSON fields.
    const metrics::ClusterView cv = ctx_.cluster();
    status["cluster"] = {{"members", cv.members},
                         {"role", cv.role},
                         {"leader", cv.leader_addr},
                         {"commit", cv.commit},
                         {"applied", cv.applied}};
  }
  out->set_status(kvspec::kStatusOK);
  kv::ObjectItem* item = out->add_items();
  item->mutable_meta();
  SetJsonValue(status, item);
}

void PublicService::SysMetrics(const std::string& body, kv::ObjectResult* out) const {
  valuedig::tsd::v2::SampleQueryRequest q;
  if (ctx_.metrics == nullptr) {
    *out = ClientError("system status not ready");
  } else if (!q.ParseFromString(body)) {
    *out = ClientError("proto: cannot parse invalid wire-format data");
  } else {
    out->set_status(kvspec::kStatusOK);
    kv::ObjectItem* item = out->add_items();
    item->mutable_meta();
    std::string value = "\x02" + SysMetricsJson(ctx_.metrics->Collect(), q, ctx_.clock->NowMs() / 1000);
    item->mutable_data()->set_check(ValueCheck(value));
    item->mutable_data()->set_value(std::move(value));
  }
}

}  // namespace kvgo::server
