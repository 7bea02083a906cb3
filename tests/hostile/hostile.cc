#include "hostile.h"

#include <dirent.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "auth/token.h"
#include "common/clock.h"

namespace kvgo::testing {

namespace {

kv::ObjectResult RpcError(const grpc::Status& s) {
  kv::ObjectResult r;
  r.set_status(0);
  r.set_message("rpc: " + std::to_string(s.error_code()) + " " + s.error_message());
  return r;
}

}  // namespace

kv::ObjectResult Send(client::Client& c, const kv::ObjectWriter& w) {
  kv::ObjectResult r;
  grpc::Status s = c.Commit(w, &r);
  return s.ok() ? r : RpcError(s);
}

kv::ObjectResult Put(client::Client& c, const std::string& key, const std::string& value) {
  return Send(c, client::NewWriter(key, value));
}

kv::ObjectResult Read(client::Client& c, const kv::ObjectReader& rd) {
  kv::ObjectResult r;
  grpc::Status s = c.Query(rd, &r);
  return s.ok() ? r : RpcError(s);
}

kv::ObjectResult Get(client::Client& c, const std::string& key) { return Read(c, client::NewKeyReader(key)); }

kv::ObjectWriter WriterOfSize(const std::string& key, size_t bytes) {
  size_t n = bytes;
  for (int i = 0; i < 8; i++) {
    kv::ObjectWriter w = client::NewWriter(key, std::string(n > 64 ? n - 64 : 0, 'v'));
    const size_t size = w.ByteSizeLong();
    if (size == bytes) return w;
    n = n + bytes - size;  // the varint length prefixes may move by a byte
  }
  std::abort();
}

RawClient::RawClient(const std::string& addr, const std::string& key_id, const std::string& secret)
    : key_id_(key_id), secret_(secret) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  stub_ = kv::Public::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> RawClient::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ctx->AddMetadata(auth::kTokenHeader, auth::SignToken(key_id_, secret_, SystemClock()->NowMs()));
  return ctx;
}

int64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream f(line.substr(6));
      int64_t kb = 0;
      f >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

int OpenFds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') n++;
  }
  closedir(d);
  return n;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace kvgo::testing
