// targets.h — which daemons mydev-dashboard watches, and how it reaches each:
// the repeated --target flag (gRPC names: "unix:PATH" or "HOST:PORT"), the
// --targets_file (text-format mydev.dashboard.v1.TargetsFile, re-read when it
// changes), or, with neither, the local socket (--socket, $MYDEV_SOCKET,
// /run/mydevd/mydevd.sock) like mydevctl. Per-target TLS/token settings of
// the file fall back to the connection flags field by field.
//
//   stats_client::ConnectionOptions flags = ...;   // --target, --ca, --token_file, ...
//   TargetsSource source(flags, "/etc/mydev/targets.textproto", std::getenv("MYDEV_SOCKET"));
//   absl::StatusOr<std::vector<TargetConfig>> targets = source.Load();
//   ... every 2 s:
//   if (source.FileChanged()) { targets = source.Load(); if (!targets.ok()) log, keep the old }
#ifndef MYDEV_TOOLS_DASHBOARD_TARGETS_H_
#define MYDEV_TOOLS_DASHBOARD_TARGETS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/dashboard.pb.h"
#include "tools/stats_client/connection.h"

namespace mydev::dashboard {

// One daemon to watch, resolved: its name, where it is, and the effective
// connection options (the file's fields, else the flags').
struct TargetConfig {
  std::string name;  // the `target` label and the page's name: TargetSpec.name, else the address
  stats_client::Target target;               // address; local for unix: targets
  stats_client::ConnectionOptions security;  // ca/cert/key/token/tls_server_name/plaintext
  // security, with its files read (by the resolve functions below).
  std::shared_ptr<const stats_client::ClientSecurity> credentials;

  // Same name, address and security settings: an unchanged target keeps its stream.
  bool operator==(const TargetConfig& other) const;
  bool operator!=(const TargetConfig& other) const { return !(*this == other); }
};

// The targets of a targets file's text (path: for messages), with defaults
// (the connection flags) filled in and their files read. Errors name the file,
// line and column: syntax, an empty address, a name given twice,
// contradicting TLS settings, an unreadable ca/cert/key/token file.
absl::StatusOr<std::vector<TargetConfig>> ResolveTargetsFile(
    const std::string& path, const std::string& text,
    const stats_client::ConnectionOptions& defaults);

// The targets of the flags and the file together, in that order; with
// neither, the local socket. A name given twice is an error.
absl::StatusOr<std::vector<TargetConfig>> CombineTargets(
    const stats_client::ConnectionOptions& flags, const std::vector<TargetConfig>& from_file,
    bool have_file, const char* socket_env);

// The flags and the targets file, read now and whenever the file changes.
class TargetsSource {
 public:
  // flags: --target, --socket and the default connection settings;
  // targets_file: "" = none; socket_env: $MYDEV_SOCKET (may be null).
  TargetsSource(stats_client::ConnectionOptions flags, std::string targets_file,
                const char* socket_env);

  // Reads the file (if any) and returns every target; remembers the file's
  // identity (inode, size, mtime) for FileChanged.
  absl::StatusOr<std::vector<TargetConfig>> Load();

  // True when the file's inode, size or mtime differs from what the last
  // Load saw (also when it appeared or vanished). False without a file.
  bool FileChanged() const;

  // The --targets_file path ("" = none).
  const std::string& file() const { return file_; }

 private:
  // What identifies one version of the file; all zero when it is missing.
  struct FileId {
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool exists = false;
    bool operator==(const FileId& o) const {
      return inode == o.inode && size == o.size && mtime_ns == o.mtime_ns && exists == o.exists;
    }
  };

  // The file's identity now.
  FileId StatFile() const;

  const stats_client::ConnectionOptions flags_;
  const std::string file_;
  const std::string socket_env_;
  const bool have_socket_env_;
  FileId seen_;
};

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_TARGETS_H_
