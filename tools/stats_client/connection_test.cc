// connection_test.cc — which socket and targets a Stats client resolves, and what
// ClientSecurity::Load accepts (files read, token file parsed) and refuses.
#include "tools/stats_client/connection.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace mydev::stats_client {
namespace {

// A file under the test's temporary directory holding text.
std::string WriteFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConnectionTest, LocalSocketPrecedence) {
  EXPECT_EQ(LocalSocketPath("/flag.sock", "/env.sock"), "/flag.sock");
  EXPECT_EQ(LocalSocketPath("", "/env.sock"), "/env.sock");
  EXPECT_EQ(LocalSocketPath("", ""), kDefaultSocketPath);
  EXPECT_EQ(LocalSocketPath("", nullptr), "/run/mydevd/mydevd.sock");
}

TEST(ConnectionTest, ResolvesTargets) {
  ConnectionOptions o;
  std::vector<Target> t = ResolveTargets(o, "/tmp/e/mydevd1.sock");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].address, "unix:/tmp/e/mydevd1.sock");
  EXPECT_EQ(t[0].label, "mydevd1.sock");
  EXPECT_TRUE(t[0].local);

  o.targets = {"db1.example:9470", "unix:/run/other.sock", "[::1]:9470"};
  t = ResolveTargets(o, "/ignored.sock");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].address, "db1.example:9470");
  EXPECT_EQ(t[0].label, "db1.example:9470");
  EXPECT_FALSE(t[0].local);
  EXPECT_EQ(t[1].label, "other.sock");
  EXPECT_TRUE(t[1].local);
  EXPECT_EQ(t[2].address, "[::1]:9470");
}

TEST(ConnectionTest, LoadsFilesAndToken) {
  ConnectionOptions o;
  o.ca_file = WriteFile("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  o.token_file = WriteFile("token", "# my token\n\n  s3cret devices laptop\n");
  absl::StatusOr<ClientSecurity> sec = ClientSecurity::Load(o);
  ASSERT_TRUE(sec.ok()) << sec.status();
  EXPECT_EQ(sec->Describe(), "TLS + token");
  grpc::ClientContext ctx;
  sec->PrepareCall(&ctx);  // adds the metadata; what is sent is checked end to end

  ConnectionOptions m;
  m.cert_file = WriteFile("c.pem", "cert");
  m.key_file = WriteFile("k.pem", "key");
  sec = ClientSecurity::Load(m);
  ASSERT_TRUE(sec.ok()) << sec.status();
  EXPECT_EQ(sec->Describe(), "mutual TLS");
}

TEST(ConnectionTest, RefusesContradictionsAndMissingFiles) {
  ConnectionOptions o;
  o.cert_file = WriteFile("c2.pem", "cert");
  EXPECT_FALSE(ClientSecurity::Load(o).ok()) << "--cert without --key";

  ConnectionOptions p;
  p.plaintext = true;
  p.ca_file = WriteFile("ca2.pem", "x");
  EXPECT_FALSE(ClientSecurity::Load(p).ok()) << "--plaintext with --ca";

  ConnectionOptions q;
  q.token_file = "/nonexistent/token";
  absl::StatusOr<ClientSecurity> sec = ClientSecurity::Load(q);
  ASSERT_FALSE(sec.ok());
  EXPECT_NE(sec.status().message().find("--token_file: cannot read /nonexistent/token"),
            std::string::npos)
      << sec.status();

  ConnectionOptions r;
  r.token_file = WriteFile("empty-token", "# nothing here\n");
  EXPECT_FALSE(ClientSecurity::Load(r).ok());
}

TEST(ConnectionTest, StatusText) {
  EXPECT_EQ(StatusText(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token")),
            "UNAUTHENTICATED: no token");
  EXPECT_EQ(StatusText(grpc::Status::OK), "OK");
}

}  // namespace
}  // namespace mydev::stats_client
