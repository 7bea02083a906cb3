// systemd's readiness protocol without libsystemd: one datagram to the
// unix socket named by $NOTIFY_SOCKET (an abstract socket if it starts with
// '@'). A no-op when the variable is unset. Thread-safe.
#pragma once

#include <string>

namespace kvgo::cli {

// Sends `state` (e.g. "READY=1"). Returns false if it could not be sent.
bool SdNotify(const std::string& state);

}  // namespace kvgo::cli
