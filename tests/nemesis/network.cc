#include "network.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace kvgo::nemesis {

namespace {
bool isolated = false;
constexpr char kTable[] = "kvgo_nemesis";
std::string Ip(int i) { return "127.0.0." + std::to_string(i + 1); }
}  // namespace

bool IsolateNetwork(std::string* error) {
  if (isolated) return true;
  if (unshare(CLONE_NEWNET) != 0) {
    *error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) + " (needs root)";
    return false;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  const bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && ((ifr.ifr_flags |= IFF_UP), true) &&
                  ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (fd >= 0) close(fd);
  if (!up) {
    *error = std::string("bringing loopback up in the new namespace: ") + std::strerror(errno);
    return false;
  }
  isolated = true;
  return true;
}

bool NetworkIsolated() { return isolated; }

uid_t NodeUid(int i) { return static_cast<uid_t>(47000 + i + 1); }

bool Partitions::Nft(const std::string& script) {
  FILE* p = popen("nft -f - 2>&1", "w");
  if (p == nullptr) return false;
  std::fwrite(script.data(), 1, script.size(), p);
  return pclose(p) == 0;
}

bool Partitions::Setup(int nodes, std::string* error) {
  if (!isolated) {
    *error =
        "partitions need a network namespace of the test's own "
        "(IsolateNetwork)";
    return false;
  }
  std::string marks;
  for (int i = 0; i < nodes; i++) {
    marks +=
        "    ct state new meta skuid " + std::to_string(NodeUid(i)) + " ct mark set " + std::to_string(i + 1) + "\n";
  }
  const std::string script = std::string("table inet ") + kTable + " {\n  chain blocks {\n  }\n" +
                             "  chain out {\n    type filter hook output "
                             "priority 0; policy accept;\n" +
                             marks + "    jump blocks\n  }\n}\n";
  if (!Nft(std::string("table inet ") + kTable + " {}\ndelete table inet " + kTable + "\n" + script)) {
    *error = "nft failed to install the partition rules (is nftables installed?)";
    return false;
  }
  ready_ = true;
  return true;
}

bool Partitions::Block(int from, int to) {
  if (!ready_) return false;
  const std::string chain = std::string("add rule inet ") + kTable + " blocks ";
  return Nft(chain + "ct mark " + std::to_string(from + 1) + " ct direction original ip daddr " + Ip(to) + " drop\n" +
             chain + "ct mark " + std::to_string(to + 1) + " ct direction reply ip saddr " + Ip(from) + " drop\n");
}

bool Partitions::Heal() { return ready_ && Nft(std::string("flush chain inet ") + kTable + " blocks\n"); }

Partitions::~Partitions() {
  if (ready_) Nft(std::string("delete table inet ") + kTable + "\n");
}

}  // namespace kvgo::nemesis
