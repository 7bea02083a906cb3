#include "cli/cli.h"

#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "common/checksum.h"
#include "common/clock.h"
#include "common/kvspec.h"

namespace kvgo::cli {

namespace kv = lynkdb::kvspec::v2;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Draws "\r[#####.....] text" on stderr at most every 100 ms.
class Progress {
 public:
  Progress(std::ostream& err, bool enabled) : err_(err), enabled_(enabled) {}
  void Update(double fraction, const std::string& text) {
    if (!enabled_) return;
    auto now = SteadyClock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    Draw(fraction, text);
  }
  void Done() {
    if (enabled_) err_ << "\r\033[K" << std::flush;
  }

 private:
  void Draw(double fraction, const std::string& text) {
    std::string bar;
    if (fraction >= 0) {
      const int width = 30;
      int filled = static_cast<int>(std::min(1.0, fraction) * width);
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    err_ << "\r\033[K" << bar << text << std::flush;
  }
  std::ostream& err_;
  bool enabled_;
  SteadyClock::time_point last_{};
};

std::string Printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\t' && c != '\n') return "0x" + absl::BytesToHexString(s);
  }
  return s;
}

json MetaJson(const kv::ObjectMeta& m) {
  json j = {{"key", Printable(m.key())}, {"version", m.version()}};
  if (m.incr_id()) j["incr_id"] = m.incr_id();
  if (m.created()) j["created"] = m.created();
  if (m.updated()) j["updated"] = m.updated();
  if (m.expired()) j["expired"] = m.expired();
  if (m.attrs()) j["attrs"] = m.attrs();
  return j;
}

}  // namespace

std::string DisplayValue(const std::string& stored) {
  if (stored.empty()) return "";
  if (stored[0] == '\0') return Printable(stored.substr(1));
  if (stored[0] == '\x02') return stored.substr(1);
  return Printable(stored);
}

bool SplitWords(const std::string& line, std::vector<std::string>* words) {
  words->clear();
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); i++) {
    char c = line[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < line.size()) {
        cur += line[++i];
      } else {
        cur += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      cur += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words->push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) return false;
  if (in_word) words->push_back(cur);
  return true;
}

std::string Cli::Usage() {
  return R"(usage: kvgo-cli [flags] COMMAND [ARGS]

commands:
  get KEY                       print the value of KEY
  put KEY VALUE                 write (--ttl=SECONDS --create --prev_version=N)
  del KEY                       delete (--prev_version=N)
  scan [PREFIX]                 list keys with PREFIX, or --from=A --to=B;
                                --reverse --limit=N --count (count only)
  watch                         follow changes (--from_version=N); Ctrl-C stops
  incr NAMESPACE KEY [VALUE]    write KEY with a new id from NAMESPACE, print it
  load FILE                     write KEY<TAB>VALUE lines of FILE ('-' = stdin)
  table list | table set NAME [DESC]
  key list [ID] | key set [--id=ID] --role=sa|client --tables=T1,T2|*
  status                        nodes, tables, sizes
  check                         connect, authenticate, report latency

flags: --addr --secret --key_id --config --table --json --timeout_ms --tls_cert --tls_server_name
       (or KVGO_ADDR, KVGO_SECRET, KVGO_KEY_ID; --config reads a server config)
exit codes: 0 ok, 1 not found, 2 usage, 3 error, 4 refused by the server
Without a command, kvgo-cli reads commands at a prompt (history in ~/.kvgo_cli_history).
)";
}

int Cli::Fail(const grpc::Status& st, uint64_t status, const std::string& message) {
  if (!st.ok()) {
    err_ << "error: " << st.error_message() << " (" << client_->options().addr << ")\n";
    return kExitError;
  }
  if (status == kvspec::kStatusNotFound) {
    err_ << "not found\n";
    return kExitNotFound;
  }
  err_ << "error: " << (message.empty() ? "status " + std::to_string(status) : message) << "\n";
  return status == kvspec::kStatusClientError ? kExitRefused : kExitError;
}

int Cli::Run(const std::vector<std::string>& a, const CliOptions& o) {
  interrupted_ = false;
  if (a.empty()) {
    err_ << Usage();
    return kExitUsage;
  }
  const std::string& c = a[0];
  if (c == "get") return Get(a, o);
  if (c == "put") return Put(a, o);
  if (c == "del" || c == "delete") return Del(a, o);
  if (c == "scan") return Scan(a, o);
  if (c == "watch") return Watch(a, o);
  if (c == "incr") return Incr(a, o);
  if (c == "load") return Load(a, o);
  if (c == "table") return Table(a, o);
  if (c == "key") return Key(a, o);
  if (c == "status") return Status(o);
  if (c == "check") return Check(o);
  if (c == "help") {
    out_ << Usage();
    return kExitOk;
  }
  err_ << "unknown command \"" << c << "\"\n" << Usage();
  return kExitUsage;
}

int Cli::Get(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() != 2) {
    err_ << "usage: get KEY\n";
    return kExitUsage;
  }
  auto r = client::NewKeyReader(a[1]);
  r.set_table_name(o.table);
  kv::ObjectResult rs;
  grpc::Status st = client_->Query(r, &rs);
  if (!st.ok() || rs.status() != kvspec::kStatusOK || rs.items_size() == 0) {
    return Fail(st, rs.items_size() == 0 && rs.status() == kvspec::kStatusOK ? kvspec::kStatusNotFound : rs.status(),
                rs.message());
  }
  const auto& item = rs.items(0);
  if (o.json) {
    json j = MetaJson(item.meta());
    j["value"] = DisplayValue(item.data().value());
    out_ << j.dump() << "\n";
  } else {
    out_ << DisplayValue(item.data().value()) << "\n";
  }
  return kExitOk;
}

int Cli::Put(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() != 3) {
    err_ << "usage: put KEY VALUE [--ttl=SECONDS] [--create] [--prev_version=N]\n";
    return kExitUsage;
  }
  auto w = client::NewWriter(a[1], a[2]);
  w.set_table_name(o.table);
  if (o.create) w.set_mode(w.mode() | kvspec::kWriteModeCreate);
  if (o.prev_version) w.set_prev_version(o.prev_version);
  if (o.ttl_seconds > 0) w.mutable_meta()->set_expired(SystemClock()->NowMs() + o.ttl_seconds * 1000);
  kv::ObjectResult rs;
  grpc::Status st = client_->Commit(w, &rs);
  if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
  if (o.json) {
    out_ << json{{"version", rs.meta().version()}, {"updated", rs.meta().updated()}}.dump() << "\n";
  } else {
    out_ << "OK version " << rs.meta().version() << "\n";
  }
  return kExitOk;
}

int Cli::Del(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() != 2) {
    err_ << "usage: del KEY [--prev_version=N]\n";
    return kExitUsage;
  }
  kv::ObjectWriter w;
  w.set_mode(kvspec::kWriteModeDelete);
  w.set_table_name(o.table);
  w.mutable_meta()->set_key(a[1]);
  if (o.prev_version) w.set_prev_version(o.prev_version);
  kv::ObjectResult rs;
  grpc::Status st = client_->Commit(w, &rs);
  if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
  const bool existed = rs.has_meta();
  if (o.json) {
    out_ << json{{"deleted", existed}, {"version", rs.meta().version()}}.dump() << "\n";
  } else {
    out_ << (existed ? "OK version " + std::to_string(rs.meta().version()) : "OK (no such key)") << "\n";
  }
  return kExitOk;
}

int Cli::Scan(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() > 2) {
    err_ << "usage: scan [PREFIX] [--from=A --to=B] [--reverse] [--limit=N] [--count]\n";
    return kExitUsage;
  }
  const std::string prefix = a.size() == 2 ? a[1] : "";
  const std::string lower = o.from.empty() ? prefix : o.from;
  const std::string upper = o.to.empty() ? prefix : o.to;
  kv::ObjectReader r;
  r.set_table_name(o.table);
  if (!o.reverse) {
    r.set_mode(kvspec::kReadModeKeyRange);
    r.set_key_offset(lower);
    r.set_key_cutset(upper);
  } else {
    r.set_mode(kvspec::kReadModeKeyRange | kvspec::kReadModeRevRange);
    r.set_key_offset(upper + "\xff");
    r.set_key_cutset(lower);
  }
  if (o.count) r.set_mode(r.mode() | kvspec::kReadModeMetaOnly);
  Progress progress(err_, o.progress && o.count);
  const auto t0 = SteadyClock::now();
  uint64_t n = 0;
  for (;;) {
    if (interrupted_) break;
    int64_t page = 1000;
    if (o.limit > 0) page = std::min<int64_t>(page, o.limit - static_cast<int64_t>(n));
    if (page <= 0) break;
    r.set_limit_num(page);
    kv::ObjectResult rs;
    grpc::Status st = client_->Query(r, &rs);
    if (!st.ok() || (rs.status() != kvspec::kStatusOK && rs.status() != kvspec::kStatusNotFound)) {
      progress.Done();
      return Fail(st, rs.status(), rs.message());
    }
    for (const auto& item : rs.items()) {
      n++;
      if (o.count) continue;
      if (o.json) {
        json j = MetaJson(item.meta());
        j["value"] = DisplayValue(item.data().value());
        out_ << j.dump() << "\n";
      } else {
        out_ << Printable(item.meta().key()) << "\t" << DisplayValue(item.data().value()) << "\n";
      }
    }
    if (rs.items_size() == 0 || !rs.next()) break;
    r.set_key_offset(rs.items(rs.items_size() - 1).meta().key());
    const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    progress.Update(
        -1, std::to_string(n) + " keys, " + std::to_string(static_cast<int64_t>(n / std::max(secs, 1e-3))) + " keys/s");
  }
  progress.Done();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  if (o.count) {
    if (o.json) {
      out_ << json{{"count", n}, {"seconds", secs}}.dump() << "\n";
    } else {
      out_ << n << "\n";
      err_ << "counted " << n << " keys in " << std::fixed << std::setprecision(2) << secs << " s\n";
    }
  }
  return kExitOk;
}

int Cli::Watch(const std::vector<std::string>& a, const CliOptions& o) {
  uint64_t offset = o.from_version;
  kv::ObjectReader r;
  r.set_mode(kvspec::kReadModeLogRange);
  r.set_table_name(o.table);
  r.set_limit_num(100);
  if (offset == 0) {
    // Start from now: the table's current log version.
    r.set_log_offset(UINT64_MAX);
    kv::ObjectResult rs;
    grpc::Status st = client_->Query(r, &rs);
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    offset = rs.log_version();
  }
  r.set_wait_time(std::min<int64_t>(5000, client_->options().timeout.count() / 2));
  while (!interrupted_) {
    r.set_log_offset(offset);
    kv::ObjectResult rs;
    grpc::Status st = client_->Query(r, &rs);
    if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
    for (const auto& item : rs.items()) {
      const auto& m = item.meta();
      const bool del = (m.attrs() & kvspec::kAttrDelete) != 0;
      if (o.json) {
        json j = MetaJson(m);
        j["op"] = del ? "delete" : "put";
        if (!del) j["value"] = DisplayValue(item.data().value());
        out_ << j.dump() << "\n";
      } else {
        out_ << (del ? "DEL " : "PUT ") << Printable(m.key()) << " v" << m.version();
        if (!del) out_ << " " << DisplayValue(item.data().value());
        out_ << "\n";
      }
      offset = std::max(offset, m.version());
    }
    out_.flush();
  }
  return kExitOk;
}

int Cli::Incr(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() < 3 || a.size() > 4) {
    err_ << "usage: incr NAMESPACE KEY [VALUE]\n";
    return kExitUsage;
  }
  auto w = client::NewWriter(a[2], a.size() == 4 ? a[3] : "");
  w.set_table_name(o.table);
  w.set_incr_namespace(a[1]);
  kv::ObjectResult rs;
  grpc::Status st = client_->Commit(w, &rs);
  if (!st.ok() || rs.status() != kvspec::kStatusOK) return Fail(st, rs.status(), rs.message());
  if (o.json) {
    out_ << json{{"incr_id", rs.meta().incr_id()}, {"version", rs.meta().version()}}.dump() << "\n";
  } else {
    out_ << rs.meta().incr_id() << "\n";
  }
  return kExitOk;
}

int Cli::Load(const std::vector<std::string>& a, const CliOptions& o) {
  if (a.size() != 2) {
    err_ << "usage: load FILE   (lines KEY<TAB>VALUE; '-' reads stdin)\n";
    return kExitUsage;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  double total = -1;
  if (a[1] != "-") {
    file.open(a[1], std::ios::binary | std::ios::ate);
    if (!file) {
      err_ << "cannot read " << a[1] << "\n";
      return kExitUsage;
    }
    total = static_cast<double>(file.tellg());
    file.seekg(0);
    in = &file;
  }
  Progress progress(err_, o.progress);
  const auto t0 = SteadyClock::now();
  uint64_t loaded = 0, failed = 0, bytes = 0, lineno = 0;
  std::string first_error;
  kv::BatchRequest batch;
  batch.set_table_name(o.table);
  auto flush = [&]() -> bool {
    if (batch.items_size() == 0) return true;
    kv::BatchResult rs;
    grpc::Status st = client_->BatchCommit(batch, &rs);
    if (!st.ok()) {
      first_error = st.error_message();
      return false;
    }
    for (int i = 0; i < batch.items_size(); i++) {
      if (i < rs.items_size() && rs.items(i).status() == kvspec::kStatusOK) {
        loaded++;
      } else {
        failed++;
        if (first_error.empty()) first_error = i < rs.items_size() ? rs.items(i).message() : rs.message();
      }
    }
    batch.clear_items();
    return true;
  };
  std::string line;
  while (!interrupted_ && std::getline(*in, line)) {
    lineno++;
    bytes += line.size() + 1;
    if (line.empty()) continue;
    size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      failed++;
      if (first_error.empty()) first_error = "line " + std::to_string(lineno) + ": no TAB";
      continue;
    }
    *batch.add_items()->mutable_writer() = client::NewWriter(line.substr(0, tab), line.substr(tab + 1));
    if (batch.items_size() >= 100 && !flush()) break;
    const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    progress.Update(total > 0 ? bytes / total : -1,
                    std::to_string(loaded) + " keys, " +
                        std::to_string(static_cast<int64_t>(loaded / std::max(secs, 1e-3))) + " keys/s");
  }
  const bool ok = flush() && first_error.empty();
  progress.Done();
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  if (o.json) {
    out_ << json{{"loaded", loaded}, {"failed", failed}, {"bytes", bytes}, {"seconds", secs}}.dump() << "\n";
  } else {
    out_ << "loaded " << loaded << " keys (" << bytes << " bytes) in " << std::fixed << std::setprecision(2) << secs
         << " s, " << static_cast<int64_t>(loaded / std::max(secs, 1e-3)) << " keys/s; " << failed << " failed\n";
  }
  if (!first_error.empty()) err_ << "first error: " << first_error << "\n";
  return ok ? kExitOk : (loaded == 0 && failed == 0 ? kExitError : kExitRefused);
}

}  // namespace kvgo::cli
