#include "server/kv_service.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/token.h"
#include "common/checksum.h"
#include "common/kvspec.h"
#include "common/limits.h"
#include "server/sys_metrics.h"
#include "server/validate.h"
#include "storage.pb.h"

namespace kvgo::server {

namespace kv = lynkdb::kvspec::v2;
using nlohmann::json;

namespace {

constexpr char kDenied[] = "Access Denied";

kv::ObjectResult Denied(absl::string_view reason = "") {
  kv::ObjectResult r;
  r.set_status(kvspec::kStatusClientError);
  r.set_message(reason.empty() ? std::string(kDenied) : absl::StrCat(kDenied, " : ", reason));
  return r;
}

kv::ObjectResult ClientError(std::string message) {
  kv::ObjectResult r;
  r.set_status(kvspec::kStatusClientError);
  r.set_message(std::move(message));
  return r;
}

kv::ObjectResult ServerError(std::string message) {
  kv::ObjectResult r;
  r.set_status(kvspec::kStatusServerError);
  r.set_message(std::move(message));
  return r;
}

bool HasPermission(const hooto::hauth::v1::AccessKey& key, const std::string& perm) {
  for (const auto& role : key.roles()) {
    if (role == "sa") return true;
    if (role == "client" && perm != auth::kPermSysAll) return true;
  }
  return false;
}

std::chrono::steady_clock::time_point Deadline(const grpc::CallbackServerContext* context) {
  auto now_sys = std::chrono::system_clock::now();
  auto d = context->deadline();
  auto left = d > now_sys ? d - now_sys : std::chrono::system_clock::duration::zero();
  // gRPC reports "no deadline" as a far-future time point.
  if (left > std::chrono::hours(24)) left = std::chrono::hours(24);
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

// A server-generated item value: 0x02 then JSON (docs/wire-api.md 3.1).
void SetJsonValue(const json& j, kv::ObjectItem* item) {
  std::string value = "\x02" + j.dump();
  item->mutable_data()->set_check(ValueCheck(value));
  item->mutable_meta()->set_data_check(item->data().check());
  item->mutable_data()->set_value(std::move(value));
}

json AccessKeyJson(const hooto::hauth::v1::AccessKey& k, bool mask) {
  json j = json::object();
  if (!k.id().empty()) j["id"] = k.id();
  if (!k.secret().empty()) {
    const std::string& s = k.secret();
    j["secret"] =
        !mask ? s : (s.size() > 8 ? s.substr(0, 4) + "********" + s.substr(s.size() - 4) : std::string("********"));
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

bool PublicService::Enter(grpc::ServerUnaryReactor* reactor, const CallInfo& call) {
  // In cluster mode the port takes peer messages of up to
  // limits::kMaxPeerMessageBytes; a client's stay within the wire limit.
  if (call.request_bytes > static_cast<size_t>(kvspec::kMaxMessageBytes)) {
    if (ctx_.metrics) ctx_.metrics->CountRefused(call.rpc, metrics::Refusal::kMessageTooLarge);
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 absl::StrCat("Received message larger than max (", call.request_bytes, " vs. ",
                                              kvspec::kMaxMessageBytes, ")")));
    return false;
  }
  in_flight_.fetch_add(1, std::memory_order_acq_rel);
  if (draining_.load(std::memory_order_acquire)) {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (ctx_.metrics) ctx_.metrics->CountRefused(call.rpc, metrics::Refusal::kDraining);
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    return false;
  }
  return true;
}

template <typename Response>
void PublicService::Finish(grpc::ServerUnaryReactor* reactor, const CallInfo& call, const Response& response) const {
  if (ctx_.metrics) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - call.start).count();
    ctx_.metrics->ObserveRequest(call.rpc, response.status(), secs, call.request_bytes, response.ByteSizeLong());
    const std::string& m = response.message();
    if (response.status() == kvspec::kStatusClientError && absl::StartsWith(m, kDenied)) {
      ctx_.metrics->CountAuthFailure(m.size() > sizeof(kDenied) + 2 ? m.substr(sizeof(kDenied) + 2) : "permission");
    }
  }
  reactor->Finish(grpc::Status::OK);
  in_flight_.fetch_sub(1, std::memory_order_acq_rel);
}

void PublicService::StartDraining() { draining_.store(true, std::memory_order_release); }

int PublicService::in_flight() const { return in_flight_.load(std::memory_order_acquire); }

StatusOr<auth::Principal> PublicService::Authenticate(grpc::CallbackServerContext* context) const {
  const auto& md = context->client_metadata();
  auto it = md.find(auth::kTokenHeader);
  if (it == md.end()) return absl::PermissionDeniedError("no auth token found");
  return ctx_.keyring->Authenticate(std::string_view(it->second.data(), it->second.size()), ctx_.clock->NowMs());
}

bool PublicService::AllowTable(const auth::Principal& p, const std::string& table_as_sent, bool write,
                               std::string* denied) const {
  if (table_as_sent == kvspec::kSysTable && !HasPermission(*p, auth::kPermSysAll)) {
    *denied = kDenied;
    return false;
  }
  Status s = auth::Authorize(*p, write ? auth::kPermTableWrite : auth::kPermTableRead, table_as_sent);
  if (!s.ok()) {
    *denied = absl::StrCat(kDenied, " : ", s.message());
    return false;
  }
  return true;
}

bool PublicService::AdmitTableCall(grpc::CallbackServerContext* context, const std::string& table, bool write,
                                   grpc::ServerUnaryReactor* reactor, const CallInfo& call,
                                   kv::ObjectResult* response) {
  auto p = Authenticate(context);
  std::string denied;
  if (!p.ok()) {
    *response = Denied(p.status().message());
  } else if (!AllowTable(*p, table, write, &denied)) {
    response->set_status(kvspec::kStatusClientError);
    response->set_message(denied);
  } else {
    return true;
  }
  Finish(reactor, call, *response);
  return false;
}

void PublicService::DoQuery(const kv::ObjectReader& reader, std::chrono::steady_clock::time_point deadline,
                            ResultCallback done) const {
  const uint64_t mode = reader.mode();
  const bool log_range =
      (mode & (kvspec::kReadModeKey | kvspec::kReadModeKeyRange)) == 0 && (mode & kvspec::kReadModeLogRange) != 0;
  if (log_range && reader.wait_time() > 0) {
    auto table = ctx_.catalog->FindTable(reader.table_name().empty() ? kvspec::kMainTable : reader.table_name());
    if (table && ctx_.catalog->LogVersion(table->id()) <= reader.log_offset()) {
      const kv::ObjectReader now = reader;
      const int64_t wait = std::min<int64_t>(reader.wait_time(), kvspec::kWaitTimeMaxMs);
      // Answer a little before the caller's deadline so the answer arrives.
      auto until = std::min(std::chrono::steady_clock::now() + std::chrono::milliseconds(wait),
                            deadline - std::chrono::milliseconds(200));
      const storage::QueryEngine* query = ctx_.query;
      ctx_.waiters->Add(table->id(), reader.log_offset(), until,
                        [query, now, done = std::move(done)] { done(query->Query(now)); });
      return;
    }
  }
  done(ctx_.query->Query(reader));
}

grpc::ServerUnaryReactor* PublicService::Query(grpc::CallbackServerContext* context, const kv::ObjectReader* request,
                                               kv::ObjectResult* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const CallInfo call{metrics::Rpc::kQuery, std::chrono::steady_clock::now(), request->ByteSizeLong()};
  if (!Enter(reactor, call)) return reactor;
  if (!AdmitTableCall(context, request->table_name(), /*write=*/false, reactor, call, response)) {
    return reactor;
  }
  const auto deadline = Deadline(context);
  ctx_.log->ReadBarrier(deadline, [this, reactor, response, call, request, deadline](Status s) {
    if (!s.ok()) {
      *response = ServerError(std::string(s.message()));
      Finish(reactor, call, *response);
      return;
    }
    DoQuery(*request, deadline, [this, reactor, response, call](kv::ObjectResult r) {
      *response = std::move(r);
      Finish(reactor, call, *response);
    });
  });
  return reactor;
}

void PublicService::ApplyWriters(std::vector<kv::ObjectWriter> writers, ResultsCallback done) const {
  storage::pb::Command cmd;
  cmd.set_now_ms(static_cast<uint64_t>(ctx_.clock->NowMs()));
  for (auto& w : writers) *cmd.mutable_write()->add_writers() = std::move(w);
  const size_t n = cmd.write().writers_size();
  // One command is one log entry: it must fit a peer message (a batch of
  // many small writers grows when each inherits the batch's table name).
  if (const size_t size = cmd.ByteSizeLong(); size > limits::kMaxCommandBytes) {
    std::vector<kv::ObjectResult> out(
        n, ClientError(absl::StrCat("BatchCommit too large: its writes take ", size, " bytes once encoded, at most ",
                                    limits::kMaxCommandBytes, "; send them in smaller batches")));
    return done(std::move(out));
  }
  ctx_.log->Submit(std::move(cmd), [n, done = std::move(done)](StatusOr<storage::pb::CommandResult> res) {
    std::vector<kv::ObjectResult> out;
    if (!res.ok()) {
      out.assign(n, ServerError(std::string(res.status().message())));
    } else {
      for (auto& r : *res->mutable_results()) out.push_back(std::move(r));
    }
    done(std::move(out));
  });
}

grpc::ServerUnaryReactor* PublicService::Commit(grpc::CallbackServerContext* context, const kv::ObjectWriter* request,
                                                kv::ObjectResult* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const CallInfo call{metrics::Rpc::kCommit, std::chrono::steady_clock::now(), request->ByteSizeLong()};
  if (!Enter(reactor, call)) return reactor;
  if (!AdmitTableCall(context, request->table_name(), /*write=*/true, reactor, call, response)) {
    return reactor;
  }
  kv::ObjectWriter w = *request;
  if (!ValidateWriter(&w, response) || !AdmitQuota(w, response)) {
    Finish(reactor, call, *response);
    return reactor;
  }
  std::vector<kv::ObjectWriter> ws;
  ws.push_back(std::move(w));
  ApplyWriters(std::move(ws), [this, reactor, response, call](std::vector<kv::ObjectResult> rs) {
    *response = std::move(rs[0]);
    Finish(reactor, call, *response);
  });
  return reactor;
}

// The state of one BatchCommit while its segments run.
struct PublicService::BatchState {
  CallInfo call;
  const kv::BatchRequest* request;
  kv::BatchResult* response;
  grpc::ServerUnaryReactor* reactor;
  std::chrono::steady_clock::time_point deadline;
  std::vector<kv::ObjectResult> results;
  // The readers from here to the next writer passed the read barrier
  // (with this outcome); a writer segment clears it.
  bool barrier_passed = false;
  Status barrier;
};

grpc::ServerUnaryReactor* PublicService::BatchCommit(grpc::CallbackServerContext* context,
                                                     const kv::BatchRequest* request, kv::BatchResult* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const CallInfo call{metrics::Rpc::kBatchCommit, std::chrono::steady_clock::now(), request->ByteSizeLong()};
  if (!Enter(reactor, call)) return reactor;
  auto p = Authenticate(context);
  if (!p.ok()) {
    response->set_status(kvspec::kStatusClientError);
    response->set_message(Denied(p.status().message()).message());
    Finish(reactor, call, *response);
    return reactor;
  }
  // Authorise every item against its own table name as sent.
  for (const auto& item : request->items()) {
    std::string denied;
    if (item.has_reader() && !AllowTable(*p, item.reader().table_name(), false, &denied)) {
      response->set_status(kvspec::kStatusClientError);
      response->set_message(denied);
      Finish(reactor, call, *response);
      return reactor;
    }
    if (!item.has_reader() && item.has_writer() && !AllowTable(*p, item.writer().table_name(), true, &denied)) {
      response->set_status(kvspec::kStatusClientError);
      response->set_message(kDenied);
      Finish(reactor, call, *response);
      return reactor;
    }
  }
  auto st = std::make_shared<BatchState>();
  st->call = call;
  st->request = request;
  st->response = response;
  st->reactor = reactor;
  st->deadline = Deadline(context);
  st->results.resize(request->items_size());
  RunBatch(std::move(st), 0);
  return reactor;
}

// Runs items from `from` on: readers inline; consecutive valid writers are
// applied as one atomic command, and the run continues from its callback,
// so a reader sees every write of the items before it.
void PublicService::RunBatch(std::shared_ptr<BatchState> st, int from) const {
  const kv::BatchRequest& req = *st->request;
  const int n = req.items_size();
  std::vector<kv::ObjectWriter> pending;
  std::vector<int> index;
  int i = from;
  for (; i < n; i++) {
    const auto& item = req.items(i);
    if (item.has_reader()) {
      if (!pending.empty()) break;
      if (!st->barrier_passed) {
        // A group of readers passes the read barrier first (linearizable
        // like Query; in a cluster this may wait for the leader).
        ctx_.log->ReadBarrier(st->deadline, [this, st, i](Status s) {
          st->barrier_passed = true;
          st->barrier = s;
          RunBatch(st, i);
        });
        return;
      }
      if (!st->barrier.ok()) {
        st->results[i] = ServerError(std::string(st->barrier.message()));
        continue;
      }
      kv::ObjectReader r = item.reader();
      if (r.table_name().empty()) r.set_table_name(req.table_name());
      st->results[i] = ctx_.query->Query(r);  // no long-poll inside a batch
    } else if (item.has_writer()) {
      kv::ObjectWriter w = item.writer();
      if (w.table_name().empty()) w.set_table_name(req.table_name());
      if (ValidateWriter(&w, &st->results[i]) && AdmitQuota(w, &st->results[i])) {
        pending.push_back(std::move(w));
        index.push_back(i);
      }
    } else {
      st->results[i] = ClientError("no reader/writer commit");
    }
  }
  if (!pending.empty()) {
    ApplyWriters(std::move(pending), [this, st, index, i](std::vector<kv::ObjectResult> rs) {
      for (size_t k = 0; k < rs.size(); k++) st->results[index[k]] = std::move(rs[k]);
      st->barrier_passed = false;
      RunBatch(st, i);
    });
    return;
  }
  std::string message;
  bool all_ok = true;
  for (int k = 0; k < n; k++) {
    if (st->results[k].status() != kvspec::kStatusOK) {
      all_ok = false;
      if (!message.empty()) message += ", ";
      absl::StrAppend(&message, "b", k, " ", st->results[k].message(), " ");
    }
    *st->response->add_items() = std::move(st->results[k]);
  }
  st->response->set_status(all_ok ? kvspec::kStatusOK : kvspec::kStatusUnset);
  st->response->set_message(message);
  Finish(st->reactor, st->call, *st->response);
}

grpc::ServerUnaryReactor* PublicService::SysCmd(grpc::CallbackServerContext* context, const kv::SysCmdRequest* request,
                                                kv::ObjectResult* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const CallInfo call{metrics::Rpc::kSysCmd, std::chrono::steady_clock::now(), request->ByteSizeLong()};
  if (!Enter(reactor, call)) return reactor;
  auto finish = [this, reactor, response, call](kv::ObjectResult r) {
    *response = std::move(r);
    Finish(reactor, call, *response);
  };
  auto p = Authenticate(context);
  if (!p.ok()) {
    finish(Denied(p.status().message()));
    return reactor;
  }
  const std::string& method = request->method();
  if (!absl::StartsWith(method, "Table") && !HasPermission(**p, auth::kPermSysAll)) {
    finish(Denied());
    return reactor;
  }
  kv::ObjectResult out;
  if (method == "TableSet") {
    TableSet(*p, request->body(), finish);
    return reactor;
  } else if (method == "AccessKeySet") {
    AccessKeySet(request->body(), finish);
    return reactor;
  } else if (method == "TableList" || method == "AccessKeyList") {
    // Reads of replicated state: linearizable like Query.
    ctx_.log->ReadBarrier(Deadline(context), [this, request, finish](Status s) {
      kv::ObjectResult r;
      if (!s.ok()) {
        r = ServerError(std::string(s.message()));
      } else if (request->method() == "TableList") {
        TableList(&r);
      } else {
        AccessKeyList(request->body(), &r);
      }
      finish(std::move(r));
    });
    return reactor;
  } else if (method == "SysStatus") {
    SysStatus(&out);
  } else if (method == "SysMetrics") {
    valuedig::tsd::v2::SampleQueryRequest q;
    if (ctx_.metrics == nullptr) {
      out = ClientError("system status not ready");
    } else if (!q.ParseFromString(request->body())) {
      out = ClientError("proto: cannot parse invalid wire-format data");
    } else {
      out.set_status(kvspec::kStatusOK);
      kv::ObjectItem* item = out.add_items();
      item->mutable_meta();
      std::string value = "\x02" + SysMetricsJson(ctx_.metrics->Collect(), q, ctx_.clock->NowMs() / 1000);
      item->mutable_data()->set_check(ValueCheck(value));
      item->mutable_data()->set_value(std::move(value));
    }
  } else {
    out = ClientError("cmd not found");
  }
  finish(std::move(out));
  return reactor;
}

bool PublicService::AdmitQuota(const kv::ObjectWriter& w, kv::ObjectResult* out) const {
  const bool is_delete = (w.mode() & (kvspec::kWriteModeDelete | kvspec::kWriteModeDeleteDataOnly)) != 0;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  if (ctx_.min_free_bytes > 0) {
    // statvfs every 50 ms at most: at 10 MB/s of writes the check lags by
    // 0.5 MB, far inside the reserve.
    if (now - free_at_ns_.load() > 50000000) {
      free_at_ns_ = now;
      free_ = ctx_.store->FreeBytes();
    }
    const uint64_t free = free_.load();
    const uint64_t floor = is_delete ? ctx_.min_free_bytes / 4 : ctx_.min_free_bytes;
    if (free < floor) {
      *out = ServerError(absl::StrCat(
          "disk nearly full: ", free, " bytes free on the data directory's filesystem, ",
          is_delete ? "a quarter of " : "", "[storage] min_free_bytes is ", ctx_.min_free_bytes, "; free space (",
          is_delete ? "remove other files" : "delete keys or remove other files", ") and writes resume by themselves"));
      return false;
    }
  }
  if (ctx_.quota_bytes == 0 || is_delete) return true;
  if (now - usage_at_ns_.load() > 1000000000) {
    usage_at_ns_ = now;
    usage_ = ctx_.store->DiskUsage();
  }
  const uint64_t used = usage_.load();
  if (used < ctx_.quota_bytes) return true;
  *out = ServerError(absl::StrCat("storage quota exceeded: the data directory holds ", used,
                                  " bytes, [storage] quota_bytes is ", ctx_.quota_bytes,
                                  "; delete keys (deletes are still accepted) or raise the quota"));
  return false;
}

void PublicService::Execute(storage::pb::Command cmd, ResultCallback done) const {
  ctx_.log->Submit(std::move(cmd), [done = std::move(done)](StatusOr<storage::pb::CommandResult> res) {
    done(res.ok() ? std::move(*res->mutable_results(0)) : ServerError(std::string(res.status().message())));
  });
}

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
  Execute(std::move(cmd), std::move(done));
}

void PublicService::TableList(kv::ObjectResult* out) const {
  out->set_status(kvspec::kStatusOK);
  for (const auto& t : ctx_.catalog->Tables()) {
    if (t.name() == kvspec::kSysTable) continue;
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

void PublicService::AccessKeySet(const std::string& body, ResultCallback done) const {
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
    if (ctx_.keyring->Find(key.id()) == nullptr) return done(ClientError("access key not found"));
    if (!ValidAccessKeyId(key.id())) return done(ClientError("invalid access key id"));
  }
  *c->mutable_key() = std::move(key);
  Execute(std::move(cmd), std::move(done));
}

void PublicService::AccessKeyList(const std::string& body, kv::ObjectResult* out) const {
  out->set_status(kvspec::kStatusOK);
  if (!body.empty()) {
    if (!ValidAccessKeyId(body)) {
      *out = ClientError("invalid access key id");
      return;
    }
    if (auth::Principal k = ctx_.keyring->Find(body)) {
      kv::ObjectItem* item = out->add_items();
      item->mutable_meta()->set_key(k->id());
      SetJsonValue(AccessKeyJson(*k, /*mask=*/false), item);
    }
    return;
  }
  for (const auto& k : ctx_.keyring->List()) {
    kv::ObjectItem* item = out->add_items();
    item->mutable_meta()->set_key(k->id());
    SetJsonValue(AccessKeyJson(*k, /*mask=*/true), item);
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

}  // namespace kvgo::server
