// stats_tokens_file.cc — see stats_tokens_file.h.
#include "daemon/control/stats_tokens_file.h"

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace mydev::daemon {

bool StatsTokensFile::Stamp::operator==(const Stamp& o) const {
  return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
         mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec &&
         ctime.tv_nsec == o.ctime.tv_nsec;
}

absl::StatusOr<std::unique_ptr<StatsTokensFile>> StatsTokensFile::Open(const std::string& path) {
  std::unique_ptr<StatsTokensFile> f(new StatsTokensFile(path));
  absl::StatusOr<Stamp> stamp = f->StampNow();
  if (!stamp.ok()) return stamp.status();
  absl::MutexLock lock(&f->mu_);
  absl::StatusOr<bool> loaded = f->LoadLocked(*stamp);
  if (!loaded.ok()) return loaded.status();
  return f;
}

std::shared_ptr<const StatsTokens> StatsTokensFile::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<StatsTokensFile::Stamp> StatsTokensFile::StampNow() const {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat the tokens file ", path_));
  Stamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  s.ctime = st.st_ctim;
  return s;
}

absl::StatusOr<bool> StatsTokensFile::LoadLocked(const Stamp& stamp) {
  absl::StatusOr<StatsTokens> tokens = StatsTokens::Load(path_);
  if (!tokens.ok()) {
    failed_ = stamp;
    return tokens.status();
  }
  current_ = std::make_shared<const StatsTokens>(std::move(*tokens));
  loaded_ = stamp;
  failed_ = Stamp{};
  return true;
}

absl::StatusOr<bool> StatsTokensFile::ReloadIfChanged() {
  absl::StatusOr<Stamp> stamp = StampNow();
  absl::MutexLock lock(&mu_);
  if (!stamp.ok()) {
    // Report a vanished file once, not at every check.
    if (failed_.size == -2) return false;
    failed_ = Stamp{};
    failed_.size = -2;
    return stamp.status();
  }
  if (*stamp == loaded_ || *stamp == failed_) return false;
  return LoadLocked(*stamp);
}

absl::StatusOr<bool> StatsTokensFile::Reload() {
  absl::StatusOr<Stamp> stamp = StampNow();
  if (!stamp.ok()) return stamp.status();
  absl::MutexLock lock(&mu_);
  return LoadLocked(*stamp);
}

}  // namespace mydev::daemon
