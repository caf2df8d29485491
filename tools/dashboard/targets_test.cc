// targets_test.cc — the dashboard's targets: from the flags (the local
// socket by default), from a targets file (defaults filled in from the
// flags, errors naming file and line), and reloads that keep the old list
// when the new file is bad.
#include "tools/dashboard/targets.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace mydev::dashboard {
namespace {

using stats_client::ConnectionOptions;

// A file under the test's temporary directory holding text.
std::string WriteFile(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(TargetsTest, LocalSocketWhenNothingIsGiven) {
  TargetsSource source(ConnectionOptions{}, "", "/tmp/x/mydevd.sock");
  absl::StatusOr<std::vector<TargetConfig>> t = source.Load();
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].target.address, "unix:/tmp/x/mydevd.sock");
  EXPECT_EQ((*t)[0].name, "unix:/tmp/x/mydevd.sock");
  EXPECT_TRUE((*t)[0].target.local);
  EXPECT_NE((*t)[0].credentials, nullptr);

  ConnectionOptions flags;
  flags.socket = "/flag.sock";
  t = TargetsSource(flags, "", nullptr).Load();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[0].target.address, "unix:/flag.sock");
}

TEST(TargetsTest, FlagTargetsAndFileTogether) {
  ConnectionOptions flags;
  flags.targets = {"unix:/run/a.sock", "h1.example:9470"};
  flags.plaintext = true;
  const std::string file = WriteFile("both.textproto",
                                     "# two more\n"
                                     "target { address: \"h2.example:9470\" name: \"h2\" }\n"
                                     "target { address: \"unix:/run/b.sock\" }\n");
  absl::StatusOr<std::vector<TargetConfig>> t = TargetsSource(flags, file, nullptr).Load();
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[0].name, "unix:/run/a.sock");
  EXPECT_EQ((*t)[1].name, "h1.example:9470");
  EXPECT_TRUE((*t)[1].security.plaintext);
  EXPECT_EQ((*t)[2].name, "h2");
  EXPECT_EQ((*t)[2].target.address, "h2.example:9470");
  EXPECT_FALSE((*t)[2].target.local);
  EXPECT_TRUE((*t)[2].security.plaintext) << "inherits --plaintext";
  EXPECT_EQ((*t)[3].name, "unix:/run/b.sock");

  // A file alone: no local socket added.
  t = TargetsSource(ConnectionOptions{}, file, "/tmp/ignored.sock").Load();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->size(), 2u);
}

TEST(TargetsTest, FileFieldsFallBackToFlags) {
  ConnectionOptions flags;
  flags.ca_file = WriteFile("flag-ca.pem", "flag ca");
  flags.token_file = WriteFile("flag-token", "flagtoken sessions\n");
  flags.tls_server_name = "flag.example";
  const std::string own_ca = WriteFile("own-ca.pem", "own ca");
  const std::string cert = WriteFile("c.pem", "cert");
  const std::string key = WriteFile("k.pem", "key");
  const std::string file =
      WriteFile("fallback.textproto",
                "target { address: \"a:1\" }\n"
                "target { address: \"b:1\" ca_file: \"" +
                    own_ca + "\" cert_file: \"" + cert + "\" key_file: \"" + key +
                    "\" tls_server_name: \"b.example\" }\n"
                    "target { address: \"c:1\" plaintext: true }\n");
  absl::StatusOr<std::vector<TargetConfig>> t = ResolveTargetsFile(
      file,
      [&] {
        std::ifstream in(file);
        return std::string(std::istreambuf_iterator<char>(in), {});
      }(),
      flags);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].security.ca_file, flags.ca_file);
  EXPECT_EQ((*t)[0].security.token_file, flags.token_file);
  EXPECT_EQ((*t)[0].security.tls_server_name, "flag.example");
  EXPECT_EQ((*t)[0].credentials->Describe(), "TLS + token");
  EXPECT_EQ((*t)[1].security.ca_file, own_ca);
  EXPECT_EQ((*t)[1].security.tls_server_name, "b.example");
  EXPECT_EQ((*t)[1].credentials->Describe(), "mutual TLS + token");
  EXPECT_TRUE((*t)[2].security.plaintext);
  EXPECT_EQ((*t)[2].security.ca_file, "") << "plaintext takes no CA from the flags";
  EXPECT_EQ((*t)[2].credentials->Describe(), "plaintext + token");
}

TEST(TargetsTest, ErrorsNameFileAndLine) {
  absl::StatusOr<std::vector<TargetConfig>> t =
      ResolveTargetsFile("t.textproto", "target { address: \"a:1\" }\ntarget { adress: \"b\" }\n",
                         ConnectionOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().substr(0, 14), "t.textproto:2:") << t.status();
  EXPECT_NE(t.status().message().find("adress"), std::string::npos) << t.status();

  t = ResolveTargetsFile("t.textproto", "\n\n  target { name: \"x\" }\n", ConnectionOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "t.textproto:3:3: target has no address (\"unix:/run/mydevd/mydevd.sock\" or "
            "\"HOST:PORT\")");

  t = ResolveTargetsFile("t.textproto",
                         "target { address: \"a:1\" name: \"n\" }\n"
                         "target { address: \"b:1\" name: \"n\" }\n",
                         ConnectionOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("t.textproto:2:1: target 'n' is named twice"),
            std::string::npos)
      << t.status();

  t = ResolveTargetsFile("t.textproto",
                         "target { address: \"a:1\" plaintext: true ca_file: \"/x\" }\n",
                         ConnectionOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("plaintext contradicts"), std::string::npos);

  t = ResolveTargetsFile("t.textproto",
                         "target { address: \"a:1\" token_file: \"/nonexistent\" }\n",
                         ConnectionOptions{});
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("t.textproto:1:1: target 'a:1': --token_file: cannot read "
                                      "/nonexistent"),
            std::string::npos)
      << t.status();

  ConnectionOptions flags;
  flags.targets = {"a:1"};
  const std::string file = WriteFile("dup.textproto", "target { address: \"a:1\" }\n");
  t = TargetsSource(flags, file, nullptr).Load();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("'a:1' is given twice"), std::string::npos) << t.status();
}

TEST(TargetsTest, ReloadSeesChangesAndTheCallerKeepsTheOldListOnError) {
  const std::string file = WriteFile("reload.textproto", "target { address: \"a:1\" }\n");
  TargetsSource source(ConnectionOptions{}, file, nullptr);
  EXPECT_TRUE(source.FileChanged()) << "never loaded";
  absl::StatusOr<std::vector<TargetConfig>> current = source.Load();
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_FALSE(source.FileChanged());

  // A bad version (another size): seen as a change, refused; the caller keeps `current`.
  WriteFile("reload.textproto", "target { address: \"a:1\" \n");
  EXPECT_TRUE(source.FileChanged());
  absl::StatusOr<std::vector<TargetConfig>> next = source.Load();
  EXPECT_FALSE(next.ok());
  EXPECT_FALSE(source.FileChanged()) << "the bad version is not re-read every poll";
  ASSERT_EQ(current->size(), 1u);

  // A good one, by rename (another inode).
  const std::string tmp =
      WriteFile("reload.tmp", "target { address: \"a:1\" }\ntarget { address: \"b:2\" }\n");
  ASSERT_EQ(::rename(tmp.c_str(), file.c_str()), 0);
  EXPECT_TRUE(source.FileChanged());
  next = source.Load();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0], (*current)[0]) << "unchanged target compares equal";
  EXPECT_NE((*next)[1], (*current)[0]);

  // Gone: a change, and an error naming the file.
  ASSERT_EQ(::unlink(file.c_str()), 0);
  EXPECT_TRUE(source.FileChanged());
  next = source.Load();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.status().message().find(file), std::string::npos);
}

}  // namespace
}  // namespace mydev::dashboard
