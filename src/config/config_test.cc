#include "config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/seed_configs_test.h"

namespace kvgo {
namespace {

std::string ParseError(const std::string& text) {
  auto c = ParseConfig(text, "test.conf", "/prefix");
  EXPECT_FALSE(c.ok()) << text;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(Config, SeedSingleInstance) {
  auto c = ParseConfig(kSeedSingle, "test.conf", "/opt/lynkdb/kvgo-server");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_directory, "/opt/lynkdb/kvgo-server/var/data");
  EXPECT_EQ(c->bind, "127.0.0.1:9100");
  EXPECT_EQ(c->root_secret, "the-secret-key-of-server");
  EXPECT_EQ(c->root_key_id, "00000000");
  EXPECT_EQ(c->write_buffer_size_mib, 8);
  EXPECT_EQ(c->block_cache_size_mib, 32);
  EXPECT_EQ(c->max_table_size_mib, 8);
  EXPECT_EQ(c->max_open_files, 500);
  EXPECT_EQ(c->table_compress_name, "snappy");
  EXPECT_TRUE(c->masters.empty());
}

TEST(Config, SeedThreeReplica) {
  auto c = ParseConfig(kSeedCluster01, "test.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->masters.size(), 3u);
  EXPECT_EQ(c->masters[1].addr, "127.0.0.2:9100");
  EXPECT_EQ(c->masters[2].secret, "the-secret-key-of-server-03");
  EXPECT_EQ(c->masters[0].access_key_id, "00000000");
}

TEST(Config, LegacySpelling) {
  auto c = ParseConfig(R"(
[server]
bind = "127.0.0.1:9200"
http_port = 9201
[server.access_key]
id = "the-access-key-id"
secret = "0123456789abcdefghij-secret"
[feature]
table_compress_name = "none"
[[cluster.main_nodes]]
addr = "127.0.0.1:9200"
[cluster.main_nodes.access_key]
id = "node1"
secret = "secret-of-node-1-is-long-enough"
[[cluster.main_nodes]]
addr = "127.0.0.2:9200"
[cluster.main_nodes.access_key]
id = "node2"
secret = "secret-of-node-2-is-long-enough"
)",
                       "t", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->root_key_id, "the-access-key-id");
  EXPECT_EQ(c->root_secret, "0123456789abcdefghij-secret");
  EXPECT_EQ(c->http_port, 9201);
  EXPECT_EQ(c->table_compress_name, "none");
  ASSERT_EQ(c->masters.size(), 2u);
  EXPECT_EQ(c->masters[1].access_key_id, "node2");
  EXPECT_EQ(c->data_directory, "/p/var/data");  // default, relative to prefix
}

TEST(Config, RelativePathsResolveAgainstPrefix) {
  auto c = ParseConfig(
      "[storage]\ndata_directory = \"d/x\"\n[server]\nauth_secret_key = "
      "\"0123456789012345678901\"\n[log]\nfile = \"var/log/kvgo.log\"\n",
      "t", "/opt/kvgo");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_directory, "/opt/kvgo/d/x");
  EXPECT_EQ(c->log_file, "/opt/kvgo/var/log/kvgo.log");
}

TEST(Config, UnknownSectionNamesKeyAndLine) {
  std::string e = ParseError(std::string(kSeedSingle) + "\n[storag]\nx = 1\n");
  EXPECT_NE(e.find("test.conf:12"), std::string::npos) << e;  // the [storag] line
  EXPECT_NE(e.find("storag: unknown section"), std::string::npos) << e;
}

TEST(Config, UnknownKeyNamesKeyAndLine) {
  std::string e = ParseError("[server]\nauth_secret_key = \"0123456789012345678901\"\nbnd = \"x\"\n");
  EXPECT_NE(e.find("test.conf:3: server.bnd: unknown key"), std::string::npos) << e;
}

TEST(Config, ShortSecretRefused) {
  std::string e = ParseError("[server]\nauth_secret_key = \"short\"\n");
  EXPECT_NE(e.find("server.auth_secret_key"), std::string::npos) << e;
  EXPECT_NE(e.find("at least 20"), std::string::npos) << e;
}

TEST(Config, MissingSecretRefused) {
  EXPECT_NE(ParseError("[server]\nbind = \"127.0.0.1:1\"\n").find("server.auth_secret_key: is required"),
            std::string::npos);
}

TEST(Config, BadValues) {
  const std::string s = "[server]\nauth_secret_key = \"0123456789012345678901\"\n";
  EXPECT_NE(ParseError(s + "bind = \"127.0.0.1\"\n").find("server.bind"), std::string::npos);
  EXPECT_NE(ParseError(s + "bind = \"127.0.0.1:99999\"\n").find("valid port"), std::string::npos);
  EXPECT_NE(ParseError(s + "bind = 9100\n").find("server.bind: must be a string"), std::string::npos);
  EXPECT_NE(
      ParseError(s + "[performance]\nwrite_buffer_size = 0\n").find("performance.write_buffer_size: must be between"),
      std::string::npos);
  EXPECT_NE(ParseError(s + "[performance]\nmax_open_files = \"x\"\n").find("must be an integer"), std::string::npos);
  EXPECT_NE(ParseError(s + "[feature]\ntable_compress_name = \"zstd\"\n").find("feature.table_compress_name"),
            std::string::npos);
  EXPECT_NE(ParseError(s + "[log]\nlevel = \"loud\"\n").find("log.level"), std::string::npos);
  EXPECT_NE(ParseError(s + "[storage]\ndata_directory = \"\"\n").find("must not be empty"), std::string::npos);
  EXPECT_NE(ParseError("storage = 1\n").find("storage: must be a section"), std::string::npos);
  EXPECT_NE(ParseError("[server\n").find("invalid TOML"), std::string::npos);
}

TEST(Config, ConflictingSecrets) {
  EXPECT_NE(ParseError("[server]\nauth_secret_key = \"0123456789012345678901\"\n"
                       "[server.access_key]\nsecret = \"abcdefghijabcdefghijabc\"\n")
                .find("conflicts"),
            std::string::npos);
}

TEST(Config, ClusterValidation) {
  const std::string s = "[server]\nauth_secret_key = \"0123456789012345678901\"\n";
  const std::string m =
      "[[cluster.masters]]\naddr = \"127.0.0.1:9100\"\nauth_secret_key = "
      "\"0123456789012345678901\"\n";
  EXPECT_NE(ParseError(s + m + m).find("duplicate member"), std::string::npos);
  EXPECT_NE(ParseError(s + "[[cluster.masters]]\naddr = \"127.0.0.1:9100\"\nauth_secret_key = \"x\"\n")
                .find("cluster.masters.auth_secret_key"),
            std::string::npos);
  EXPECT_NE(ParseError(s + "[[cluster.masters]]\nauth_secret_key = \"0123456789012345678901\"\n")
                .find("cluster.masters.addr: is required"),
            std::string::npos);
  std::string eight = s;
  for (int i = 1; i <= 8; i++) {
    eight += "[[cluster.masters]]\naddr = \"127.0.0." + std::to_string(i) +
             ":9100\"\nauth_secret_key = \"0123456789012345678901\"\n";
  }
  EXPECT_NE(ParseError(eight).find("at most 7"), std::string::npos);
  // A cluster must list this node by its bind address (the default
  // 127.0.0.1:9100 here), so that --check-config catches what would
  // otherwise stop the start.
  const std::string other =
      "[[cluster.masters]]\naddr = \"127.0.0.2:9100\"\nauth_secret_key = \"0123456789012345678901\"\n";
  const std::string err = ParseError(s + other);
  EXPECT_NE(err.find("cluster.masters: no entry has addr = server.bind (\"127.0.0.1:9100\")"), std::string::npos)
      << err;
  EXPECT_EQ(err.rfind("test.conf:3: cluster.masters: ", 0), 0u) << err;
  EXPECT_TRUE(ParseConfig(s + m + other, "t", "/p").ok());
  EXPECT_TRUE(ParseConfig(s + m, "t", "/p").ok());  // only itself: single-node mode
}

TEST(Config, LoadMissingFile) {
  auto c = LoadConfig("/nonexistent/kvgo.conf", "/p");
  EXPECT_TRUE(absl::IsNotFound(c.status()));
  auto dir = LoadConfig("/tmp", "/p");
  EXPECT_TRUE(absl::IsNotFound(dir.status()));
  EXPECT_NE(dir.status().message().find("/tmp: it is a directory"), std::string::npos) << dir.status();
}

TEST(Config, EffectiveConfigMasksSecrets) {
  auto c = ParseConfig(kSeedCluster01, "t", "/p");
  ASSERT_TRUE(c.ok());
  std::string toml = c->ToToml();
  EXPECT_EQ(toml.find("the-secret-key-of-server-01"), std::string::npos);
  EXPECT_EQ(toml.find("the-"), std::string::npos) << toml;  // no character of it
  EXPECT_NE(toml.find("auth_secret_key = \"******** (27 characters)\""), std::string::npos) << toml;
  EXPECT_NE(toml.find("addr = \"127.0.0.3:9100\""), std::string::npos) << toml;
}

TEST(SplitHostPort, Forms) {
  std::string h;
  int p = 0;
  ASSERT_TRUE(SplitHostPort("[::1]:9100", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(p, 9100);
  EXPECT_FALSE(SplitHostPort(":9100", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("a:b:c", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("host:-1", &h, &p).ok());
  EXPECT_FALSE(SplitHostPort("host:0", &h, &p).ok());
}

// Found by tests/fuzz/config_fuzz.cc: this input made toml11 read past the
// end of its buffer. Now: a clear error before toml11 sees it.
TEST(Config, NonUtf8AndControlCharactersAreRefusedWithTheLine) {
  const std::string crash("'\343ragecr'\343ragecveg\0( =", 23);
  auto c = ParseConfig(crash, "fuzz.conf", "/p");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "fuzz.conf:1: invalid TOML: not UTF-8 (a config file is UTF-8 text)");
  c = ParseConfig("[server]\nbind = \"a\x01\"\n", "t.conf", "/p");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "t.conf:2: invalid TOML: control character 0x1 (a config file is UTF-8 text)");
  // Well-formed UTF-8 still parses (and is then validated as usual).
  c = ParseConfig("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n[server]\nauth_secret_key = \"0123456789abcdefghij\"\n",
                  "t.conf", "/p");
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(ParseConfig("# \xed\xa0\x80 surrogate\n", "t.conf", "/p").ok());
  EXPECT_FALSE(ParseConfig("# \xc0\xaf overlong\n", "t.conf", "/p").ok());
  EXPECT_FALSE(ParseConfig("# truncated \xe2\x82", "t.conf", "/p").ok());
}

// [server.auth_tls_cert]: a self-signed test certificate (P-256, for
// 127.0.0.1, valid until 2126), its key, and a key that is not its key.
constexpr char kTestCert[] = R"(-----BEGIN CERTIFICATE-----
MIIBnjCCAUSgAwIBAgIUdszbuZkJ7PO+kBD7J/zBfmeeqI0wCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQa3Znby1jb25maWctdGVzdDAgFw0yNjExMjQwODUwMzVaGA8y
MTI2MTAzMTA4NTAzNVowGzEZMBcGA1UEAwwQa3Znby1jb25maWctdGVzdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABAmS9BOo7npuUm6QpCCDYlzlxDZkY4KtLNf4
/m1/u6dxbOwYJDF9PJCn5wdOOjxdrAKvwXAKwhlFkDtR6ECC+Z6jZDBiMB0GA1Ud
DgQWBBSnOfbqKEWNNzFsOBStkan5wKezrzAfBgNVHSMEGDAWgBSnOfbqKEWNNzFs
OBStkan5wKezrzAPBgNVHRMBAf8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwCgYI
KoZIzj0EAwIDSAAwRQIhAMl7/IBeyttcQE66VrAz/0gnGyyjrCAUjTDDMFQ2+3EZ
AiA76b+oLrJy4DPIQYvu/l5w9QWVwJC+JjxnM1PqJU5zqQ==
-----END CERTIFICATE-----
)";
constexpr char kTestKey[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjQqfTbX6ZtVGc6G5
O2Q7Kdq/1pDbRcjHj324iWxXMvGhRANCAAQJkvQTqO56blJukKQgg2Jc5cQ2ZGOC
rSzX+P5tf7uncWzsGCQxfTyQp+cHTjo8XawCr8FwCsIZRZA7UehAgvme
-----END PRIVATE KEY-----
)";
constexpr char kOtherKey[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnyqa07Jso0qi3Sy0
z8+w4USi6lIdIbqn+/idy9mcmbmhRANCAAS3OURz8CBYBskvF982xN4k1CFu4FG6
pnyorJAGxUk/mqQe0DedrBS0xASOShVYvq3ZMhmWclRZQ14vTsuBWsd2
-----END PRIVATE KEY-----
)";

std::string TlsConfig(const std::string& tls_section, const std::string& extra = "") {
  return std::string("[storage]\ndata_directory = \"d\"\n[server]\nauth_secret_key = \"0123456789abcdefghij\"\n") +
         extra + "[server.auth_tls_cert]\n" + tls_section;
}

std::string TempFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(Config, MinFreeBytesDefaultsToRoomForAFlushAndACompaction) {
  auto c = ParseConfig(kSeedSingle, "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->min_free_bytes, (2u * 8 + 25u * 8) << 20);
  c = ParseConfig(std::string(kSeedSingle) + "[performance]\nwrite_buffer_size = 4\nmax_table_size = 2\n", "t.conf",
                  "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->min_free_bytes, (2u * 4 + 25u * 2) << 20);
  c = ParseConfig(std::string(kSeedSingle) + "[storage]\nmin_free_bytes = 0\n", "t.conf", "/p");
  EXPECT_FALSE(c.ok()) << "a second [storage] table";
  auto d = ParseConfig(
      "[storage]\ndata_directory = \"d\"\nmin_free_bytes = 0\n[server]\nauth_secret_key = \"0123456789abcdefghij\"\n",
      "t.conf", "/p");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->min_free_bytes, 0u);
  // A reserve below LevelDB's need would let the disk fill up completely.
  auto e = ParseConfig(
      "[storage]\ndata_directory = \"d\"\nmin_free_bytes = 8388608\n[server]\n"
      "auth_secret_key = \"0123456789abcdefghij\"\n[performance]\nwrite_buffer_size = 1\nmax_table_size = 1\n",
      "t.conf", "/p");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("t.conf:3: storage.min_free_bytes: must be 0 (no reserve) or at least 28311552"),
            std::string::npos)
      << e.status();
}

TEST(Config, TlsFromInlineDataAndFromFiles) {
  auto c = ParseConfig(TlsConfig(std::string("server_cert_data = \"\"\"") + kTestCert +
                                 "\"\"\"\nserver_key_data = \"\"\"" + kTestKey + "\"\"\"\n"),
                       "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->tls.enabled());
  EXPECT_EQ(c->tls.cert_pem, kTestCert);
  EXPECT_TRUE(c->tls.ca_pem.empty());
  EXPECT_EQ(c->ToToml().find("BEGIN"), std::string::npos) << "--check-config must not print key material";

  const std::string crt = TempFile("kvgo-tls.crt", kTestCert), key = TempFile("kvgo-tls.key", kTestKey);
  c = ParseConfig(TlsConfig("server_cert_file = \"" + crt + "\"\nserver_key_file = \"" + key + "\"\nca_cert_file = \"" +
                            crt + "\"\n"),
                  "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tls.key_pem, kTestKey);
  EXPECT_EQ(c->tls.ca_pem, kTestCert);
  EXPECT_NE(c->ToToml().find("server_key_file = \"" + key + "\""), std::string::npos) << c->ToToml();
}

TEST(Config, TlsBadInputNamesTheKey) {
  const std::string crt = TempFile("kvgo-tls2.crt", kTestCert), key = TempFile("kvgo-tls2.key", kTestKey);
  const std::string other = TempFile("kvgo-tls2-other.key", kOtherKey);
  const std::string junk = TempFile("kvgo-tls2.junk", "not a certificate\n");
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"" + crt + "\"\n")).find("needs both a certificate"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"/nonexistent/x.crt\"\nserver_key_file = \"" + key + "\"\n"))
                .find("server.auth_tls_cert.server_cert_file: cannot read /nonexistent/x.crt"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"" + junk + "\"\nserver_key_file = \"" + key + "\"\n"))
                .find("server.auth_tls_cert.server_cert_file: is not a PEM certificate"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"" + crt + "\"\nserver_key_file = \"" + crt + "\"\n"))
                .find("is not a PEM private key"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"" + crt + "\"\nserver_key_file = \"" + other + "\"\n"))
                .find("is not the private key of the server certificate"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_cert_file = \"" + crt + "\"\nserver_cert_data = \"x\"\n"))
                .find("set either server_cert_file or server_cert_data"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("ca_cert_file = \"" + crt + "\"\n")).find("needs the server's own certificate"),
            std::string::npos);
  EXPECT_NE(ParseError(TlsConfig("server_key_passphrase = \"x\"\n")).find("server_key_passphrase"), std::string::npos);
  // A cluster with TLS needs the CA that the masters' certificates share.
  std::string text =
      "[storage]\ndata_directory = \"d\"\n[server]\nauth_secret_key = \"0123456789abcdefghij\"\n"
      "bind = \"127.0.0.1:9100\"\n[server.auth_tls_cert]\nserver_cert_file = \"" +
      crt + "\"\nserver_key_file = \"" + key +
      "\"\n[[cluster.masters]]\naddr = \"127.0.0.1:9100\"\n"
      "auth_secret_key = \"0123456789abcdefghij\"\n[[cluster.masters]]\naddr = \"127.0.0.2:9100\"\n"
      "auth_secret_key = \"0123456789abcdefghij\"\n";
  EXPECT_NE(ParseError(text).find("ca_cert_file: is required in cluster mode"), std::string::npos);
}

}  // namespace
}  // namespace kvgo

namespace kvgo {
namespace {

TEST(Config, LimitsAndThePeerSecret) {
  auto c = ParseConfig(std::string(kSeedSingle), "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_connections, 0);  // from the open-file limit
  EXPECT_EQ(c->max_in_flight_requests, 10000);
  EXPECT_EQ(c->max_call_bytes, uint64_t{256} << 20);
  EXPECT_EQ(c->max_connection_call_bytes, uint64_t{64} << 20);
  EXPECT_EQ(c->max_keys_per_request, 100000);
  EXPECT_EQ(c->reply_timeout_ms, 30000);
  EXPECT_TRUE(c->peer_secret.empty());
  c = ParseConfig(std::string(kSeedSingle) +
                      "[limits]\nmax_connections = 50\nmax_in_flight_requests = 7\nmax_call_bytes = 16777216\n"
                      "max_connection_call_bytes = 33554432\nmax_keys_per_request = 9\nreply_timeout_ms = 500\n"
                      "[cluster]\npeer_secret = \"a-peer-secret-0123456789\"\n",
                  "t.conf", "/p");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_connections, 50);
  EXPECT_EQ(c->max_in_flight_requests, 7);
  EXPECT_EQ(c->max_call_bytes, 16777216u);
  EXPECT_EQ(c->max_connection_call_bytes, 33554432u);
  EXPECT_EQ(c->max_keys_per_request, 9);
  EXPECT_EQ(c->reply_timeout_ms, 500);
  EXPECT_EQ(c->peer_secret, "a-peer-secret-0123456789");
  EXPECT_EQ(c->ToToml().find("a-peer-secret"), std::string::npos);  // masked
  struct Bad {
    std::string toml, message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"[limits]\nmax_call_bytes = 1048576\n", "limits.max_call_bytes: must be at least 16777216"},
           {"[limits]\nmax_connection_call_bytes = 0\n", "limits.max_connection_call_bytes: must be at least 16777216"},
           {"[limits]\nmax_in_flight_requests = 0\n", "limits.max_in_flight_requests: must be between 1"},
           {"[limits]\nreply_timeout_ms = 10\n", "limits.reply_timeout_ms: must be between 100"},
           {"[limits]\nmax_conections = 5\n", "limits.max_conections: unknown key"},
           {"[cluster]\npeer_secret = \"short\"\n", "cluster.peer_secret: must be at least 20 characters"},
       }) {
    auto r = ParseConfig(std::string(kSeedSingle) + b.toml, "t.conf", "/p");
    ASSERT_FALSE(r.ok()) << b.toml;
    EXPECT_NE(r.status().message().find(b.message), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace kvgo
