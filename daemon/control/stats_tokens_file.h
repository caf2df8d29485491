// stats_tokens_file.h — the tokens file of the remote Stats listener, kept
// loaded and re-read when it changes: ReloadIfChanged() (called every
// stats_listener.reload_interval_s) re-reads it when its inode, size, mtime
// or ctime moved; Reload() (SIGHUP) re-reads it whatever. A file that no
// longer parses, or cannot be read, leaves the tokens in force unchanged.
//
//   absl::StatusOr<std::unique_ptr<StatsTokensFile>> f =
//       StatsTokensFile::Open("/etc/mydevd/stats-tokens");
//   std::shared_ptr<const StatsTokens> now = (*f)->Current();   // per call
//   absl::StatusOr<bool> replaced = (*f)->ReloadIfChanged();    // periodically
#ifndef MYDEV_DAEMON_CONTROL_STATS_TOKENS_FILE_H_
#define MYDEV_DAEMON_CONTROL_STATS_TOKENS_FILE_H_

#include <sys/stat.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "daemon/control/stats_tokens.h"

namespace mydev::daemon {

class StatsTokensFile {
 public:
  // Loads path; the error of StatsTokens::Load if it cannot.
  static absl::StatusOr<std::unique_ptr<StatsTokensFile>> Open(const std::string& path);

  // The tokens in force (never null); callers keep the pointer for one call.
  std::shared_ptr<const StatsTokens> Current() const;

  // Re-reads the file if it changed since the last successful read (stat:
  // device, inode, size, mtime, ctime). true: the tokens were replaced;
  // false: unchanged; an error: the file is unreadable or does not parse,
  // and the tokens in force stay (the same error is returned again only once
  // the file changes again).
  absl::StatusOr<bool> ReloadIfChanged();
  // Re-reads the file now (SIGHUP): true once replaced, or the error.
  absl::StatusOr<bool> Reload();

  const std::string& path() const { return path_; }

 private:
  // What stat() says about the file, to tell a change.
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& o) const;
  };

  explicit StatsTokensFile(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<Stamp> StampNow() const;
  // Loads the file; on success replaces the tokens and records stamp.
  absl::StatusOr<bool> LoadLocked(const Stamp& stamp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const StatsTokens> current_ ABSL_GUARDED_BY(mu_);
  Stamp loaded_ ABSL_GUARDED_BY(mu_);  // of the file the tokens came from
  Stamp failed_ ABSL_GUARDED_BY(mu_);  // of the last file that did not load
};

}  // namespace mydev::daemon

#endif  // MYDEV_DAEMON_CONTROL_STATS_TOKENS_FILE_H_
