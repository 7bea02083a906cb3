#include "hostile.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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

kv::ObjectResult SysCall(client::Client& c, const std::string& method, const std::string& body) {
  kv::SysCmdRequest req;
  req.set_method(method);
  req.set_body(body);
  kv::ObjectResult r;
  grpc::Status s = c.SysCmd(req, &r);
  return s.ok() ? r : RpcError(s);
}

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

int64_t PeakRssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream f(line.substr(6));
      int64_t kb = 0;
      f >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
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

namespace kvgo::testing {

namespace {

// HPACK string literal, no Huffman (RFC 7541 5.2), length as a 7-bit prefix
// integer (5.1).
std::string HpackString(const std::string& s) {
  std::string out;
  size_t n = s.size();
  if (n < 127) {
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(127);
    n -= 127;
    while (n >= 128) {
      out.push_back(static_cast<char>(0x80 | (n & 0x7f)));
      n >>= 7;
    }
    out.push_back(static_cast<char>(n));
  }
  return out + s;
}

// "Literal Header Field without Indexing -- New Name" (RFC 7541 6.2.2).
std::string HpackHeader(const std::string& name, const std::string& value) {
  return std::string(1, '\0') + HpackString(name) + HpackString(value);
}

}  // namespace

StallingH2Client::StallingH2Client(int port) {
  fd_ = ConnectLoopback(port);
  if (fd_ < 0) return;
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (write(fd_, preface.data(), preface.size()) < 0) return;
  // SETTINGS: ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 0 (no stream may send data).
  const std::string settings("\x00\x02\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00", 12);
  Frame(4, 0, 0, settings);
}

StallingH2Client::~StallingH2Client() {
  if (fd_ >= 0) close(fd_);
}

void StallingH2Client::Frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int s = 24; s >= 0; s -= 8) f.push_back(static_cast<char>((stream >> s) & 0xff));
  f += payload;
  if (fd_ >= 0 && write(fd_, f.data(), f.size()) < 0) {
    close(fd_);
    fd_ = -1;
  }
}

void StallingH2Client::Call(const std::string& path, const std::string& token, const std::string& message) {
  const uint32_t stream = next_stream_;
  next_stream_ += 2;
  std::string block = HpackHeader(":method", "POST") + HpackHeader(":scheme", "http") + HpackHeader(":path", path) +
                      HpackHeader(":authority", "kvgo") + HpackHeader("content-type", "application/grpc") +
                      HpackHeader("te", "trailers") + HpackHeader("x-hooto-auth", token);
  Frame(1, 0x4 /* END_HEADERS */, stream, block);
  std::string data(1, '\0');  // not compressed
  const uint32_t n = static_cast<uint32_t>(message.size());
  for (int s = 24; s >= 0; s -= 8) data.push_back(static_cast<char>((n >> s) & 0xff));
  Frame(0, 0x1 /* END_STREAM */, stream, data + message);
}

int StallingH2Client::Pump(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  char buf[65536];
  while (fd_ >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) {
      close(fd_);
      fd_ = -1;
      break;
    }
    in_.append(buf, static_cast<size_t>(n));
    while (in_.size() >= 9) {
      const auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(in_[i])); };
      const uint32_t len = u(0) << 16 | u(1) << 8 | u(2);
      if (in_.size() < 9 + len) break;
      const uint8_t type = static_cast<uint8_t>(in_[3]), flags = static_cast<uint8_t>(in_[4]);
      const std::string payload = in_.substr(9, len);
      in_.erase(0, 9 + len);
      if (type == 4 && (flags & 1) == 0) Frame(4, 1, 0, "");       // SETTINGS: ack
      if (type == 6 && (flags & 1) == 0) Frame(6, 1, 0, payload);  // PING: ack
      if (type == 3) resets_++;                                    // RST_STREAM
    }
  }
  return resets_;
}

}  // namespace kvgo::testing
