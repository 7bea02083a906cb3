// The seed README's configs, verbatim, for the config tests.
#pragma once

namespace kvgo {

// The seed README's single-instance config, verbatim.
inline constexpr char kSeedSingle[] = R"(# vim /opt/lynkdb/kvgo-server/etc/kvgo-server.conf

# Storage Settings
[storage]
data_directory = "/opt/lynkdb/kvgo-server/var/data"

# Server Settings
[server]
bind = "127.0.0.1:9100"
auth_secret_key = "the-secret-key-of-server"
)";

// The seed README's server-01 of the 3-replica cluster plus [performance].
inline constexpr char kSeedCluster01[] = R"(
[storage]
data_directory = "/opt/lynkdb/kvgo-server/var/data-01"

[server]
bind = "127.0.0.1:9100"
auth_secret_key = "the-secret-key-of-server-01"

[[cluster.masters]]
addr = "127.0.0.1:9100"
auth_secret_key = "the-secret-key-of-server-01"

[[cluster.masters]]
addr = "127.0.0.2:9100"
auth_secret_key = "the-secret-key-of-server-02"

[[cluster.masters]]
addr = "127.0.0.3:9100"
auth_secret_key = "the-secret-key-of-server-03"

[performance]
# in MiB, default to 8
write_buffer_size = 8

# in MiB, default to 32
block_cache_size = 32

# in MiB, default to 8
max_table_size = 8

# default to 500
max_open_files = 500
)";

}  // namespace kvgo
