// Network faults for the nemesis: partitions between cluster nodes that run
// as real processes on 127.0.0.1 ... 127.0.0.N, made with nftables inside a
// network namespace of the test's own (so no rule ever touches the host).
//
// How a node's traffic is told apart on loopback, where every connection's
// source address is 127.0.0.1: each node runs under a uid of its own; the
// first packet of every connection a node opens marks the connection
// (conntrack mark = node index + 1, `meta skuid`), and a block "i cannot
// send to j" drops i's packets on its own connections to j and i's replies
// on connections j opened. Clients of the test run as root: unmarked,
// never blocked. A block is one-way at the IP level, as with iptables in
// Jepsen; over TCP a one-way block stalls both directions of a stream.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace kvgo::nemesis {

// Moves the calling process into a new network namespace with loopback up.
// Call it first thing in main(), before any thread exists (gRPC's threads
// would stay behind in the old namespace). Needs root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN). False with a reason when impossible.
bool IsolateNetwork(std::string* error);
// Whether IsolateNetwork succeeded in this process.
bool NetworkIsolated();

// The uid node i (0-based) runs as.
uid_t NodeUid(int i);

class Partitions {
 public:
  // Installs the marking rules for `nodes` nodes at 127.0.0.1 ... Needs
  // IsolateNetwork and the `nft` tool.
  bool Setup(int nodes, std::string* error);
  // Node `from` can no longer send to node `to` (0-based).
  bool Block(int from, int to);
  // Removes every block.
  bool Heal();
  ~Partitions();

 private:
  bool Nft(const std::string& script);
  bool ready_ = false;
};

}  // namespace kvgo::nemesis
