// TLS with real processes ([server.auth_tls_cert]): a single node that
// speaks TLS to clients, and a 3-node cluster on 127.0.0.1-3 whose masters
// authenticate each other with certificates from one CA (mutual TLS). The
// certificates are made for each run with the openssl tool. Every process
// is stopped by its pid at the end, also on failure.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster_process.h"
#include "common/kvspec.h"
#include "peer.grpc.pb.h"

namespace kvgo::testing {
namespace {

namespace kv = lynkdb::kvspec::v2;
using std::chrono::milliseconds;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Keys and certificates (P-256) in a temporary directory, made with the
// openssl command-line tool.
class Pki {
 public:
  Pki() : dir_(std::filesystem::temp_directory_path() / ("kvgo-tls-" + std::to_string(getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~Pki() { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // A CA: <name>.key, <name>.crt.
  bool MakeCa(const std::string& name) {
    return Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " +
               Path(name + ".key") + " -out " + Path(name + ".crt") + " -subj /CN=" + name +
               " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
  }
  // <name>.key and <name>.crt for IP `ip`, signed by `ca` (self-signed if
  // `ca` is empty); usable as server and client certificate.
  bool Issue(const std::string& name, const std::string& ip, const std::string& ca = "") {
    if (ca.empty()) {
      return Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout " +
                 Path(name + ".key") + " -out " + Path(name + ".crt") + " -subj /CN=" + name +
                 " -addext subjectAltName=IP:" + ip);
    }
    std::ofstream(Path(name + ".ext")) << "subjectAltName=IP:" << ip << "\nextendedKeyUsage=serverAuth,clientAuth\n";
    return Run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
               Path(name + ".key") + " -out " + Path(name + ".csr") + " -subj /CN=" + name) &&
           Run("openssl x509 -req -days 2 -in " + Path(name + ".csr") + " -CA " + Path(ca + ".crt") + " -CAkey " +
               Path(ca + ".key") + " -CAcreateserial -out " + Path(name + ".crt") + " -extfile " + Path(name + ".ext"));
  }
  // The [server.auth_tls_cert] section for certificate `name`.
  std::string Section(const std::string& name, const std::string& ca = "") const {
    std::string s = "[server.auth_tls_cert]\nserver_cert_file = \"" + Path(name + ".crt") + "\"\nserver_key_file = \"" +
                    Path(name + ".key") + "\"\n";
    if (!ca.empty()) s += "ca_cert_file = \"" + Path(ca + ".crt") + "\"\n";
    return s;
  }

 private:
  static bool Run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
  std::filesystem::path dir_;
};

bool PutOk(client::Client& c, const std::string& key, const std::string& value) {
  kv::ObjectResult r;
  return c.Commit(client::NewWriter(key, value), &r).ok() && r.status() == kvspec::kStatusOK;
}

std::string GetValue(client::Client& c, const std::string& key) {
  kv::ObjectResult r;
  if (!c.Query(client::NewKeyReader(key), &r).ok() || r.status() != kvspec::kStatusOK) return "<error>";
  return client::ValueString(r.items(0));
}

TEST(Tls, SingleNodeSpeaksTlsAndRefusesPlaintext) {
  Pki pki;
  ASSERT_TRUE(pki.Issue("server", "127.0.0.1"));
  ASSERT_TRUE(pki.Issue("stranger", "127.0.0.1"));
  ServerProcess s("tls-single");
  s.WriteConfig(s.DefaultConfig() + pki.Section("server"));
  s.SetTlsRoot(ReadFile(pki.Path("server.crt")));
  s.Start();
  ASSERT_TRUE(s.WaitReady()) << s.Log();

  // As the kvgo SDK does with server_cert_data: trust exactly that certificate.
  auto c = s.NewClient();
  ASSERT_TRUE(PutOk(*c, "tls-key", "over tls"));
  EXPECT_EQ(GetValue(*c, "tls-key"), "over tls");

  client::ClientOptions plain;
  plain.addr = s.addr();
  plain.secret = s.secret();
  plain.timeout = milliseconds(2000);
  kv::ObjectResult r;
  EXPECT_FALSE(client::Client(plain).Query(client::NewKeyReader("tls-key"), &r).ok())
      << "a plaintext client was served";
  client::ClientOptions wrong = plain;
  wrong.tls_root_pem = ReadFile(pki.Path("stranger.crt"));
  EXPECT_FALSE(client::Client(wrong).Query(client::NewKeyReader("tls-key"), &r).ok())
      << "a client that does not trust the server's certificate got an answer";
}

TEST(Tls, ClusterMastersAuthenticateEachOtherWithCertificates) {
  Pki pki;
  ASSERT_TRUE(pki.MakeCa("ca"));
  ASSERT_TRUE(pki.MakeCa("other-ca"));
  ClusterOptions o;
  for (int i = 0; i < 3; i++) {
    const std::string ip = "127.0.0." + std::to_string(i + 1);
    ASSERT_TRUE(pki.Issue("node" + std::to_string(i + 1), ip, "ca"));
    o.server_toml[i] = pki.Section("node" + std::to_string(i + 1), "ca");
  }
  ClusterProcess c("tls-cluster", o);
  const std::string ca = ReadFile(pki.Path("ca.crt"));
  for (int i = 0; i < 3; i++) c.node(i).SetTlsRoot(ca);
  ASSERT_TRUE(c.StartAll());
  const int leader = c.Leader();
  ASSERT_GE(leader, 0);

  // Written through one node, read through the others.
  auto c1 = c.node(0).NewClient();
  ASSERT_TRUE(PutOk(*c1, "mtls", "v1"));
  for (int i = 1; i < 3; i++) EXPECT_EQ(GetValue(*c.node(i).NewClient(), "mtls"), "v1") << "node " << i + 1;

  // The peer service refuses a TLS caller without a client certificate,
  // before it looks at anything else.
  {
    grpc::SslCredentialsOptions so;
    so.pem_root_certs = ca;
    auto stub = peer::pb::Peer::NewStub(grpc::CreateChannel(c.node(0).addr(), grpc::SslCredentials(so)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    storage::pb::Command cmd;
    peer::pb::ForwardReply reply;
    grpc::Status st = stub->Forward(&ctx, cmd, &reply);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    // The caller learns nothing more; the node's log says why.
    EXPECT_EQ(st.error_message().find("certificate"), std::string::npos) << st.error_message();
    EXPECT_NE(c.node(0).Log().find("no client certificate signed by the server.auth_tls_cert CA"), std::string::npos)
        << c.node(0).Log();
  }

  // A master whose certificate comes from another CA is cut off: the others
  // refuse its TLS handshakes, so it neither gets new writes nor serves
  // reads, while the two others go on.
  const int odd = (leader + 1) % 3;
  ASSERT_EQ(c.node(odd).Stop(SIGTERM), 0);
  const std::string name = "node" + std::to_string(odd + 1);
  std::filesystem::copy_file(pki.Path(name + ".crt"), pki.Path(name + ".good.crt"));
  std::filesystem::copy_file(pki.Path(name + ".key"), pki.Path(name + ".good.key"));
  ASSERT_TRUE(pki.Issue(name, "127.0.0." + std::to_string(odd + 1), "other-ca"));
  c.node(odd).SetTlsRoot(ReadFile(pki.Path("other-ca.crt")));  // the test's own client still reaches it
  c.node(odd).Start();
  ASSERT_TRUE(c.node(odd).WaitReady()) << c.node(odd).Log();
  auto lc = c.node(leader).NewClient();
  for (int i = 0; i < 20; i++) ASSERT_TRUE(PutOk(*lc, "cut-" + std::to_string(i), "x"));
  EXPECT_EQ(GetValue(*c.node(odd).NewClient(), "cut-19"), "<error>") << "the node with a foreign certificate served";
  EXPECT_LT(c.Metric(odd, "kvgo_cluster_applied_index"), c.Metric(leader, "kvgo_cluster_applied_index"));

  // With its proper certificate back it catches up.
  ASSERT_EQ(c.node(odd).Stop(SIGTERM), 0);
  std::filesystem::copy_file(pki.Path(name + ".good.crt"), pki.Path(name + ".crt"),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki.Path(name + ".good.key"), pki.Path(name + ".key"),
                             std::filesystem::copy_options::overwrite_existing);
  c.node(odd).SetTlsRoot(ca);
  c.node(odd).Start();
  ASSERT_TRUE(c.node(odd).WaitReady()) << c.node(odd).Log();
  ASSERT_TRUE(c.WaitConverged(milliseconds(30000)));
  EXPECT_EQ(GetValue(*c.node(odd).NewClient(), "cut-19"), "x");
}

}  // namespace
}  // namespace kvgo::testing
