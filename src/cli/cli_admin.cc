// kvgo-cli's administration commands: table, key, status, check.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/cli.h"
#include "common/kvspec.h"
#include "hauth.pb.h"

namespace kvgo::cli {

namespace kv = lynkdb::kvspec::v2;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

// A JSON value as the server stores one (a 0x02 byte, then the text);
// null if `item` holds none.
json ParseJsonValue(const kv::ObjectItem& item) {
  const std::string& v = item.data().value();
  if (v.empty() || v[0] != '\x02') return json();
  return json::parse(v.substr(1), nullptr, /*allow_exceptions=*/false);
}

}  // namespace

int Cli::Table(const std::vector<std::string>& a, const CliOptions& o) {
  kv::SysCmdRequest req;
  kv::ObjectResult rs;
  if (a.size() == 2 && a[1] == "list") {
    req.set_method("TableList");
    grpc::Status st = client_->SysCmd(req, &rs);
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    if (!o.json)
      out_ << std::left << std::setw(24) << "NAME" << std::setw(8) << "ID" << std::setw(14) << "SIZE"
           << "DESC\n";
    for (const auto& item : rs.items()) {
      json j = ParseJsonValue(item);
      const std::string name = j.value("name", "");
      const uint64_t size = j.contains("status") ? j["status"].value("db_size", uint64_t{0}) : 0;
      if (o.json) {
        out_ << json{{"name", name}, {"id", item.meta().incr_id()}, {"desc", j.value("desc", "")}, {"db_size", size}}
                    .dump()
             << "\n";
      } else {
        out_ << std::left << std::setw(24) << name << std::setw(8) << item.meta().incr_id() << std::setw(14) << size
             << j.value("desc", "") << "\n";
      }
    }
    return kExitOk;
  }
  if ((a.size() == 3 || a.size() == 4) && a[1] == "set") {
    kv::TableSetRequest t;
    t.set_name(a[2]);
    if (a.size() == 4) t.set_desc(a[3]);
    req.set_method("TableSet");
    req.set_body(t.SerializeAsString());
    grpc::Status st = client_->SysCmd(req, &rs);
    if (st.ok() && rs.message() == "invalid table name") {
      // The server's words are the wire API's; say what it wants.
      return Fail(st, rs.status(),
                  rs.message() + " (4 to 64 characters: a-z first, then a-z, 0-9, '-', '_', '/', ':' or '.')");
    }
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    out_ << (o.json ? json{{"id", rs.meta().incr_id()}}.dump() : "OK " + std::to_string(rs.meta().incr_id())) << "\n";
    return kExitOk;
  }
  err_ << "usage: table list | table set NAME [DESC]\n";
  return kExitUsage;
}

int Cli::Key(const std::vector<std::string>& a, const CliOptions& o) {
  kv::SysCmdRequest req;
  kv::ObjectResult rs;
  if ((a.size() == 2 || a.size() == 3) && a[1] == "list") {
    req.set_method("AccessKeyList");
    if (a.size() == 3) req.set_body(a[2]);
    grpc::Status st = client_->SysCmd(req, &rs);
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    if (a.size() == 3 && rs.items_size() == 0) return Fail(st, kvspec::kStatusNotFound, "");
    for (const auto& item : rs.items()) {
      json j = ParseJsonValue(item);
      if (o.json) {
        out_ << j.dump() << "\n";
        continue;
      }
      std::string roles, scopes;
      for (const auto& r : j.value("roles", json::array())) roles += (roles.empty() ? "" : ",") + r.get<std::string>();
      for (const auto& s : j.value("scopes", json::array())) {
        scopes += (scopes.empty() ? "" : " ") + s.value("name", "") + "=" + s.value("value", "");
      }
      out_ << std::left << std::setw(18) << j.value("id", "") << std::setw(44) << j.value("secret", "") << std::setw(12)
           << roles << scopes << "\n";
    }
    return kExitOk;
  }
  if (a.size() == 2 && a[1] == "set") {
    // The server does not return a new key's id (wire spec 7.4): it is the
    // one that was not listed before.
    auto list_ids = [&](std::set<std::string>* ids) {
      kv::SysCmdRequest l;
      kv::ObjectResult lr;
      l.set_method("AccessKeyList");
      if (!client_->SysCmd(l, &lr).ok()) return;
      for (const auto& item : lr.items()) ids->insert(ParseJsonValue(item).value("id", ""));
    };
    std::set<std::string> before;
    if (o.id.empty()) list_ids(&before);
    hooto::hauth::v1::AccessKey k;
    k.set_id(o.id);
    k.add_roles(o.role);
    auto* s = k.add_scopes();
    s->set_name("kvgo/table");
    s->set_value(o.tables);
    req.set_method("AccessKeySet");
    req.set_body(k.SerializeAsString());
    grpc::Status st = client_->SysCmd(req, &rs);
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    if (!o.id.empty()) {
      out_ << "OK\n";
      return kExitOk;
    }
    std::set<std::string> after;
    list_ids(&after);
    std::vector<std::string> added;
    for (const auto& id : after) {
      if (before.count(id) == 0) added.push_back(id);
    }
    kv::SysCmdRequest g;
    kv::ObjectResult gr;
    g.set_method("AccessKeyList");
    if (added.size() == 1) g.set_body(added[0]);
    if (added.size() != 1 || !client_->SysCmd(g, &gr).ok() || gr.items_size() != 1) {
      out_ << "OK (new key; see `key list` for its id)\n";  // another key appeared at the same time
      return kExitOk;
    }
    const json key = ParseJsonValue(gr.items(0));
    if (o.json) {
      out_ << json{{"id", key.value("id", "")}, {"secret", key.value("secret", "")}}.dump() << "\n";
    } else {
      out_ << "OK id " << key.value("id", "") << " secret " << key.value("secret", "") << "\n";
    }
    return kExitOk;
  }
  err_ << "usage: key list [ID] | key set [--id=ID] --role=sa|client --tables=T1,T2|*\n";
  return kExitUsage;
}

int Cli::Status(const CliOptions& o) {
  kv::SysCmdRequest req;
  req.set_method("SysStatus");
  kv::ObjectResult rs;
  grpc::Status st = client_->SysCmd(req, &rs);
  if (!st.ok() || rs.status() != kvspec::kStatusOK || rs.items_size() == 0) {
    return Fail(st, rs.status(), rs.message());
  }
  json j = ParseJsonValue(rs.items(0));
  if (o.json) {
    out_ << j.dump() << "\n";
    return kExitOk;
  }
  if (j.contains("cluster") && j["cluster"].is_object()) {
    const json& c = j["cluster"];
    out_ << "cluster " << c.value("members", 0) << " member(s), this node " << c.value("role", "") << ", leader "
         << (c.value("leader", "").empty() ? "unknown" : c.value("leader", "")) << ", applied "
         << c.value("applied", uint64_t{0}) << " of " << c.value("commit", uint64_t{0}) << " committed\n";
  }
  for (const auto& n : j.value("nodes", json::array())) {
    const auto caps = n.value("caps", json::object());
    out_ << "node " << n.value("id", "") << " " << n.value("addr", "") << " version " << n.value("version", "")
         << " up since " << n.value("uptime", int64_t{0}) << "\n"
         << "  memory " << caps.value("mem", json::object()).value("use", int64_t{0}) / 1048576 << " MiB"
         << ", disk " << caps.value("disk", json::object()).value("use", int64_t{0}) / 1048576 << " MiB of "
         << caps.value("disk", json::object()).value("max", int64_t{0}) / 1073741824 << " GiB, "
         << caps.value("cpu", json::object()).value("use", int64_t{0}) << " CPUs\n";
  }
  for (const auto& t : j.value("tables", json::array())) {
    out_ << "table " << t.value("name", "") << " " << t.value("db_size", uint64_t{0})
         << " bytes on disk (approximate: writes still in LevelDB's memtable are not counted yet)\n";
  }
  return kExitOk;
}

int Cli::Check(const CliOptions& o) {
  std::vector<double> ms;
  kv::ObjectResult rs;
  for (int i = 0; i < 5; i++) {
    const auto t0 = SteadyClock::now();
    grpc::Status st = client_->Query(client::NewKeyReader("kvgo-cli-check"), &rs);
    if (!st.ok()) return Fail(st, 0, "");
    if (rs.status() == kvspec::kStatusClientError) return Fail(st, rs.status(), rs.message());
    ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  if (o.json) {
    out_ << json{{"addr", client_->options().addr},
                 {"auth", "ok"},
                 {"latency_ms_min", ms.front()},
                 {"latency_ms_median", ms[ms.size() / 2]},
                 {"latency_ms_max", ms.back()}}
                .dump()
         << "\n";
  } else {
    out_ << "OK " << client_->options().addr << ": authenticated as " << client_->options().key_id
         << ", latency min/median/max " << std::fixed << std::setprecision(2) << ms.front() << "/" << ms[ms.size() / 2]
         << "/" << ms.back() << " ms\n";
  }
  return kExitOk;
}

}  // namespace kvgo::cli
