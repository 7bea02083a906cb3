#include "server/kv_service.h"

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/token.h"
#include "common/kvspec.h"
#include "common/limits.h"
#include "server/authz.h"
#include "server/results.h"
#include "server/validate.h"
#include "storage.pb.h"

namespace kvgo::server {

namespace kv = lynkdb::kvspec::v2;

namespace {

std::chrono::steady_clock::time_point CallDeadline(const grpc::CallbackServerContext* context) {
  auto now_sys = std::chrono::system_clock::now();
  auto d = context->deadline();
  auto left = d > now_sys ? d - now_sys : std::chrono::system_clock::duration::zero();
  // gRPC reports "no deadline" as a far-future time point.
  if (left > std::chrono::hours(24)) left = std::chrono::hours(24);
  return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(left);
}

kv::ObjectResult DeniedBy(const Status& s) { return Denied(s.message()); }

// An ObjectResult's fields besides its items and message (status, next,
// log_version, their tags) and the result's own framing in a BatchResult.
constexpr size_t kResultFields = 32;
// At most what a writer's result takes: its meta (a key of up to 256
// bytes, extra up to 128, a dozen numbers), a short message, the framing.
constexpr size_t kWriterResultBytes = 1024;

// Takes one item result of a BatchCommit from the call's budget: its own
// fields, or all of it unless its items were taken as they were built.
bool TakeResult(TrackedCall* call, const kv::ObjectResult& r, bool items_taken) {
  if (!call->refusal().ok()) return false;
  return call->Take(items_taken ? kResultFields + r.message().size() : r.ByteSizeLong()).ok();
}
// A BatchResult's message lists the failed items up to about this size.
constexpr size_t kMaxBatchMessage = 8 << 10;

}  // namespace

PublicService::PublicService(ServiceContext ctx) : ctx_(std::move(ctx)), tracker_(ctx_.limits, ctx_.metrics) {}

void PublicService::Authenticate(grpc::CallbackServerContext* context, Deadline deadline,
                                 PrincipalCallback next) const {
  const auto& md = context->client_metadata();
  auto it = md.find(auth::kTokenHeader);
  if (it == md.end()) return next(absl::PermissionDeniedError("no auth token found"));
  std::string token(it->second.data(), it->second.size());
  auto p = ctx_.keyring->Authenticate(token, ctx_.clock->NowMs());
  if (p.ok() || !absl::StrContains(p.status().message(), "no AccessKey found")) return next(std::move(p));
  // A key created through another node may not be applied here yet: once
  // this node holds everything acknowledged before the call, look again.
  ctx_.log->ReadBarrier(deadline, [this, token = std::move(token), first = p.status(), next](Status s) {
    if (!s.ok()) return next(first);
    next(ctx_.keyring->Authenticate(token, ctx_.clock->NowMs()));
  });
}

auth::Principal PublicService::Current(const auth::Principal& p) const {
  if (!IsStored(p)) return p;
  auth::Principal now = ctx_.keyring->FindStored(p->id());
  return now != nullptr ? now : p;
}

bool PublicService::IsStored(const auth::Principal& p) const { return !ctx_.keyring->IsRoot(p->id()); }

bool PublicService::TooManyKeys(const kv::ObjectReader& reader, metrics::Rpc rpc, kv::ObjectResult* out) const {
  if ((reader.mode() & kvspec::kReadModeKey) == 0 ||
      static_cast<size_t>(reader.keys_size()) <= ctx_.max_keys_per_request) {
    return false;
  }
  if (ctx_.metrics) ctx_.metrics->CountRefused(rpc, metrics::Refusal::kTooManyKeys);
  *out = ClientError(absl::StrCat("too many keys: ", reader.keys_size(), " in one read, at most ",
                                  ctx_.max_keys_per_request, " ([limits] max_keys_per_request)"));
  return true;
}

void PublicService::DoQuery(const kv::ObjectReader& reader, Deadline deadline, storage::ReplyBudget* budget,
                            ResultCallback done) const {
  const uint64_t mode = reader.mode();
  const bool log_range =
      (mode & (kvspec::kReadModeKey | kvspec::kReadModeKeyRange)) == 0 && (mode & kvspec::kReadModeLogRange) != 0;
  if (log_range && reader.wait_time() > 0) {
    auto table = ctx_.catalog->FindTable(ResolvedTable(reader.table_name()));
    if (table && ctx_.catalog->LogVersion(table->id()) <= reader.log_offset()) {
      const int64_t wait = std::min<int64_t>(reader.wait_time(), kvspec::kWaitTimeMaxMs);
      // Answer a little before the caller's deadline so the answer arrives.
      auto until = std::min(std::chrono::steady_clock::now() + std::chrono::milliseconds(wait),
                            deadline - std::chrono::milliseconds(200));
      const storage::QueryEngine* query = ctx_.query;
      // The call (the budget) lives until it is answered.
      ctx_.waiters->Add(table->id(), reader.log_offset(), until,
                        [query, &reader, budget, done = std::move(done)] { done(query->Query(reader, budget)); });
      return;
    }
  }
  done(ctx_.query->Query(reader, budget));
}

grpc::ServerUnaryReactor* PublicService::Query(grpc::CallbackServerContext* context, const kv::ObjectReader* request,
                                               kv::ObjectResult* response) {
  TrackedCall* call = tracker_.Begin(context, metrics::Rpc::kQuery, request->ByteSizeLong());
  if (!call->admitted()) return call;
  const Deadline deadline = CallDeadline(context);
  auto reply = [call, response](kv::ObjectResult r) {
    *response = std::move(r);
    call->Reply(*response);
  };
  Authenticate(context, deadline, [this, call, request, deadline, reply](StatusOr<auth::Principal> p) {
    if (!p.ok()) return reply(Denied(p.status().message()));
    const std::string table = ResolvedTable(request->table_name());
    if (Status s = AuthorizeTable(**p, table, /*write=*/false); !s.ok()) return reply(DeniedBy(s));
    kv::ObjectResult refused;
    if (TooManyKeys(*request, call->rpc(), &refused)) return reply(std::move(refused));
    ctx_.log->ReadBarrier(deadline, [this, call, request, deadline, reply, p = *p, table](Status s) {
      if (!s.ok()) return reply(ServerError(std::string(s.message())));
      // This node now holds every change acknowledged before the call: a
      // key changed meanwhile is authorised as it is now.
      if (const auth::Principal now = Current(p); now != p) {
        if (Status a = AuthorizeTable(*now, table, /*write=*/false); !a.ok()) return reply(DeniedBy(a));
      }
      DoQuery(*request, deadline, call, reply);
    });
  });
  return call;
}

void PublicService::ApplyWriters(const auth::Principal& p, std::vector<kv::ObjectWriter> writers,
                                 ResultsCallback done) const {
  storage::pb::Command cmd;
  cmd.set_now_ms(static_cast<uint64_t>(ctx_.clock->NowMs()));
  if (IsStored(p)) cmd.set_auth_key_id(p->id());
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
  TrackedCall* call = tracker_.Begin(context, metrics::Rpc::kCommit, request->ByteSizeLong());
  if (!call->admitted()) return call;
  auto reply = [call, response](kv::ObjectResult r) {
    *response = std::move(r);
    call->Reply(*response);
  };
  Authenticate(context, CallDeadline(context), [this, request, reply](StatusOr<auth::Principal> p) {
    if (!p.ok()) return reply(Denied(p.status().message()));
    if (Status s = AuthorizeTable(**p, ResolvedTable(request->table_name()), /*write=*/true); !s.ok()) {
      return reply(DeniedBy(s));
    }
    kv::ObjectWriter w = *request;
    kv::ObjectResult refused;
    if (!ValidateWriter(&w, &refused) || !AdmitWrite(w, &refused)) return reply(std::move(refused));
    std::vector<kv::ObjectWriter> ws;
    ws.push_back(std::move(w));
    ApplyWriters(*p, std::move(ws), [reply](std::vector<kv::ObjectResult> rs) { reply(std::move(rs[0])); });
  });
  return call;
}

// The state of one BatchCommit while its segments run.
struct PublicService::BatchState {
  TrackedCall* call;
  const kv::BatchRequest* request;
  kv::BatchResult* response;
  auth::Principal principal;
  Deadline deadline;
  std::vector<kv::ObjectResult> results;
  // The readers from here to the next writer passed the read barrier
  // (with this outcome); a writer segment clears it.
  bool barrier_passed = false;
  Status barrier;
};

grpc::ServerUnaryReactor* PublicService::BatchCommit(grpc::CallbackServerContext* context,
                                                     const kv::BatchRequest* request, kv::BatchResult* response) {
  TrackedCall* call = tracker_.Begin(context, metrics::Rpc::kBatchCommit, request->ByteSizeLong());
  if (!call->admitted()) return call;
  const Deadline deadline = CallDeadline(context);
  Authenticate(context, deadline, [this, call, request, response, deadline](StatusOr<auth::Principal> p) {
    auto refuse = [call, response](const std::string& message) {
      response->set_status(kvspec::kStatusClientError);
      response->set_message(message);
      call->Reply(*response);
    };
    if (!p.ok()) return refuse(Denied(p.status().message()).message());
    if (static_cast<size_t>(request->items_size()) > ctx_.max_keys_per_request) {
      if (ctx_.metrics) ctx_.metrics->CountRefused(call->rpc(), metrics::Refusal::kTooManyKeys);
      return refuse(absl::StrCat("too many items: ", request->items_size(), " in one BatchCommit, at most ",
                                 ctx_.max_keys_per_request, " ([limits] max_keys_per_request)"));
    }
    // Every item against the table it really uses (its own name, else the
    // batch's, else main). A writer's denial says only "Access Denied", as
    // the reference's does.
    for (const auto& item : request->items()) {
      if (item.has_reader()) {
        const auto& r = item.reader();
        const std::string table = ResolvedTable(r.table_name().empty() ? request->table_name() : r.table_name());
        if (Status s = AuthorizeTable(**p, table, /*write=*/false); !s.ok()) return refuse(DeniedBy(s).message());
      } else if (item.has_writer()) {
        const auto& w = item.writer();
        const std::string table = ResolvedTable(w.table_name().empty() ? request->table_name() : w.table_name());
        if (!AuthorizeTable(**p, table, /*write=*/true).ok()) return refuse(kDenied);
      }
    }
    auto st = std::make_shared<BatchState>();
    st->call = call;
    st->request = request;
    st->response = response;
    st->principal = *p;
    st->deadline = deadline;
    st->results.resize(request->items_size());
    RunBatch(std::move(st), 0);
  });
  return call;
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
          if (s.ok()) {
            // As Query: a key changed meanwhile reads as it is now.
            const auth::Principal now = Current(st->principal);
            if (now != st->principal) st->principal = now;
          }
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
      bool items_taken = false;
      if (Status s = AuthorizeTable(*st->principal, ResolvedTable(r.table_name()), false); !s.ok()) {
        st->results[i] = DeniedBy(s);
      } else if (!TooManyKeys(r, st->call->rpc(), &st->results[i])) {
        // The batch's reply shares one budget (no long-poll in a batch):
        // the items as they are built, then the result's own fields.
        st->results[i] = ctx_.query->Query(r, st->call);
        items_taken = true;
      }
      if (!TakeResult(st->call, st->results[i], items_taken)) return FinishBatch(st);
    } else if (item.has_writer()) {
      kv::ObjectWriter w = item.writer();
      if (w.table_name().empty()) w.set_table_name(req.table_name());
      if (ValidateWriter(&w, &st->results[i]) && AdmitWrite(w, &st->results[i])) {
        pending.push_back(std::move(w));
        index.push_back(i);
      } else if (!TakeResult(st->call, st->results[i], false)) {
        return FinishBatch(st);
      }
    } else {
      st->results[i] = ClientError("no reader/writer commit");
      if (!TakeResult(st->call, st->results[i], false)) return FinishBatch(st);
    }
  }
  if (!pending.empty()) {
    // Room for their results first: once applied, writes must be answered.
    if (!st->call->Take(kWriterResultBytes * pending.size()).ok()) return FinishBatch(st);
    ApplyWriters(st->principal, std::move(pending), [this, st, index, i](std::vector<kv::ObjectResult> rs) {
      for (size_t k = 0; k < rs.size(); k++) st->results[index[k]] = std::move(rs[k]);
      st->barrier_passed = false;
      RunBatch(st, i);
    });
    return;
  }
  FinishBatch(st);
}

void PublicService::FinishBatch(const std::shared_ptr<BatchState>& st) const {
  kv::BatchResult* out = st->response;
  if (const Status& refused = st->call->refusal(); !refused.ok()) {
    // The reply would not fit (the writes before the refusal are done: the
    // message says so).
    out->set_status(absl::IsInvalidArgument(refused) ? kvspec::kStatusClientError : kvspec::kStatusServerError);
    out->set_message(absl::StrCat("BatchCommit stopped: ", refused.message(),
                                  "; the writes of the items before the stop were applied, none after it"));
    return st->call->Reply(*out);
  }
  // The reference's "b<i> <message> " list, cut short past kMaxBatchMessage
  // so that the reply's own fields stay within its envelope.
  std::string message;
  bool all_ok = true;
  const int n = static_cast<int>(st->results.size());
  int failed = 0;
  for (int k = 0; k < n; k++) {
    if (st->results[k].status() != kvspec::kStatusOK) {
      all_ok = false;
      if (message.size() < kMaxBatchMessage) {
        if (!message.empty()) message += ", ";
        absl::StrAppend(&message, "b", k, " ", st->results[k].message().substr(0, 256), " ");
      } else {
        failed++;
      }
    }
    *out->add_items() = std::move(st->results[k]);
  }
  if (failed > 0) absl::StrAppend(&message, ", and ", failed, " more");
  out->set_status(all_ok ? kvspec::kStatusOK : kvspec::kStatusUnset);
  out->set_message(message);
  st->call->Reply(*out);
}

grpc::ServerUnaryReactor* PublicService::SysCmd(grpc::CallbackServerContext* context, const kv::SysCmdRequest* request,
                                                kv::ObjectResult* response) {
  TrackedCall* call = tracker_.Begin(context, metrics::Rpc::kSysCmd, request->ByteSizeLong());
  if (!call->admitted()) return call;
  const Deadline deadline = CallDeadline(context);
  auto reply = [call, response](kv::ObjectResult r) {
    *response = std::move(r);
    call->Reply(*response);
  };
  Authenticate(context, deadline, [this, request, deadline, reply](StatusOr<auth::Principal> p) {
    if (!p.ok()) return reply(Denied(p.status().message()));
    const std::string& method = request->method();
    // Methods not about tables need role sa; the node's status and metrics
    // a full administrator (server/authz.h).
    if (!absl::StartsWith(method, "Table") && !IsAdmin(**p)) return reply(Denied());
    if ((method == "SysStatus" || method == "SysMetrics") && !IsFullAdmin(**p)) return reply(Denied());
    if (method == "TableSet") return TableSet(*p, request->body(), reply);
    if (method == "AccessKeySet") return AccessKeySet(*p, request->body(), reply);
    if (method == "TableList" || method == "AccessKeyList") {
      // Reads of replicated state: linearizable like Query.
      ctx_.log->ReadBarrier(deadline, [this, request, reply, p = *p](Status s) {
        kv::ObjectResult r;
        if (!s.ok()) {
          r = ServerError(std::string(s.message()));
        } else if (request->method() == "TableList") {
          TableList(Current(p), &r);
        } else {
          AccessKeyList(Current(p), request->body(), &r);
        }
        reply(std::move(r));
      });
      return;
    }
    kv::ObjectResult out;
    if (method == "SysStatus") {
      SysStatus(&out);
    } else if (method == "SysMetrics") {
      SysMetrics(request->body(), &out);
    } else {
      out = ClientError("cmd not found");
    }
    reply(std::move(out));
  });
  return call;
}

bool PublicService::AdmitWrite(const kv::ObjectWriter& w, kv::ObjectResult* out) const {
  if (ctx_.storage_health) {
    if (Status s = ctx_.storage_health(); !s.ok()) {
      *out = ServerError(std::string(s.message()));
      return false;
    }
  }
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

void PublicService::Execute(const auth::Principal& p, storage::pb::Command cmd, ResultCallback done) const {
  if (IsStored(p)) cmd.set_auth_key_id(p->id());
  ctx_.log->Submit(std::move(cmd), [done = std::move(done)](StatusOr<storage::pb::CommandResult> res) {
    done(res.ok() ? std::move(*res->mutable_results(0)) : ServerError(std::string(res.status().message())));
  });
}

}  // namespace kvgo::server
