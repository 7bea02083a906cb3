#include "server/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/config.h"

namespace kvgo::server {

namespace {

constexpr auto kScanAtLimit = std::chrono::milliseconds(100);
constexpr auto kScanPeriod = std::chrono::seconds(1);

std::string PeerIp(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, buf, sizeof(buf));
  } else if (a.ss_family == AF_INET6) {
    const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&a);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    } else {
      inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf));
    }
  }
  return buf;
}

}  // namespace

StatusOr<std::unique_ptr<Listener>> Listener::Bind(const std::string& addr) {
  std::string host;
  int port = 0;
  if (Status s = SplitHostPort(addr, &host, &port); !s.ok()) return s;
  std::unique_ptr<Listener> l(new Listener());
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return absl::UnavailableError("cannot listen on " + addr + ": " + gai_strerror(rc));
  }
  std::string last_error;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    // Accepted sockets inherit it (gRPC sets it on its own ones).
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
      // "::" serves IPv4 too; any other IPv6 address only itself.
      const int v6only = IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr) ? 0 : 1;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      last_error = std::strerror(errno);
      close(fd);
      continue;
    }
    l->fds_.push_back(fd);
  }
  freeaddrinfo(res);
  l->port_ = port;
  if (l->fds_.empty()) {
    return absl::UnavailableError("cannot listen on " + addr + " (" + (last_error.empty() ? "no address" : last_error) +
                                  ": address in use, or not an address of this host?)");
  }
  return l;
}

Listener::~Listener() {
  Stop();
  for (int fd : fds_) close(fd);
}

void Listener::Start(grpc::experimental::ExternalConnectionAcceptor* acceptor, size_t max_connections,
                     std::set<std::string> master_ips, metrics::Metrics* metrics) {
  acceptor_ = acceptor;
  max_connections_ = max_connections;
  master_ips_ = std::move(master_ips);
  metrics_ = metrics;
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  for (int fd : fds_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = stop_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kvgo-accept");
    Run();
  });
}

void Listener::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) spdlog::warn("cannot wake the accept thread: {}", std::strerror(errno));
  thread_.join();
  close(epoll_fd_);
  close(stop_fd_);
  if (reserve_fd_ >= 0) close(reserve_fd_);
}

void Listener::Run() {
  for (;;) {
    epoll_event events[8];
    const int n = epoll_wait(epoll_fd_, events, 8, static_cast<int>(kScanPeriod.count() * 1000));
    for (int i = 0; i < n; i++) {
      if (events[i].data.fd == stop_fd_) return;
      Accept(events[i].data.fd);
    }
    if (std::chrono::steady_clock::now() - last_scan_ >= kScanPeriod) Rescan();
  }
}

void Listener::Accept(int listen_fd) {
  if (reserve_fd_ < 0) reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // No descriptor for it: give up the reserve one to take the
        // connection off the queue and close it, so the client hears at
        // once rather than waiting in a full queue.
        const std::string why = std::strerror(errno);
        if (reserve_fd_ >= 0) {
          close(reserve_fd_);
          reserve_fd_ = -1;
          int taken = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (taken >= 0) close(taken);
          reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        }
        if (metrics_ != nullptr) metrics_->CountConnectionRefused(metrics::ConnRefusal::kNoFileDescriptors);
        LogRefusal("no_fd",
                   "no file descriptor for a new connection (" + why +
                       "): raise the open-file limit (systemd LimitNOFILE=) or lower [limits] max_connections");
        if (reserve_fd_ < 0) {
          // Not even the reserve came back: epoll would wake this thread at
          // once for the queued connection. Wait for descriptors to free.
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          return;
        }
        continue;
      }
      spdlog::warn("accepting a connection failed: {}", std::strerror(errno));
      return;
    }
    const std::string ip = PeerIp(peer);
    const size_t limit = max_connections_ + (master_ips_.count(ip) ? kMasterConnections : 0);
    if (handed_.size() >= limit && std::chrono::steady_clock::now() - last_scan_ >= kScanAtLimit) Rescan();
    if (handed_.size() >= limit) {
      close(fd);
      if (metrics_ != nullptr) metrics_->CountConnectionRefused(metrics::ConnRefusal::kLimit);
      LogRefusal("limit", "connection from " + ip + " refused: " + std::to_string(handed_.size()) +
                              " connections open, [limits] max_connections is " + std::to_string(max_connections_));
      continue;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0) {
      close(fd);
      continue;
    }
    handed_[fd] = st.st_ino;
    open_.store(handed_.size());
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = listen_fd;
    p.fd = fd;
    acceptor_->HandleNewConnection(&p);
  }
}

void Listener::Rescan() {
  last_scan_ = std::chrono::steady_clock::now();
  for (auto it = handed_.begin(); it != handed_.end();) {
    struct stat st {};
    const bool same = fstat(it->first, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == it->second;
    it = same ? std::next(it) : handed_.erase(it);
  }
  open_.store(handed_.size());
  if (metrics_ != nullptr) metrics_->SetConnections(handed_.size());
}

void Listener::LogRefusal(const std::string& kind, const std::string& why) {
  if (uint64_t suppressed = 0; log_limiter_.Allow(kind, &suppressed)) {
    spdlog::warn("{}{}", why,
                 suppressed > 0 ? " (and " + std::to_string(suppressed) + " more in the last minute)" : "");
  }
}

}  // namespace kvgo::server
