// targets.cc — see targets.h.
#include "tools/dashboard/targets.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace mydev::dashboard {
namespace {

using mydev::dashboard::v1::TargetsFile;
using mydev::dashboard::v1::TargetSpec;
using stats_client::ClientSecurity;
using stats_client::ConnectionOptions;

// Collects the text-format parser's complaints as "PATH:LINE:COLUMN: message"
// (1-based, as editors count).
class ParseErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit ParseErrors(std::string path) : path_(std::move(path)) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat(path_, ":", line + 1, ":", column + 1, ": ", message);
  }

  // The first error, or "" when none was reported.
  const std::string& first() const { return first_; }

 private:
  const std::string path_;
  std::string first_;
};

// Reads --ca/--cert/--key/--token_file of one target's effective options.
absl::StatusOr<std::shared_ptr<const ClientSecurity>> LoadCredentials(
    const ConnectionOptions& options) {
  absl::StatusOr<ClientSecurity> sec = ClientSecurity::Load(options);
  if (!sec.ok()) return sec.status();
  return std::make_shared<const ClientSecurity>(*std::move(sec));
}

// One target from the flags: the defaults as they are.
absl::StatusOr<TargetConfig> FlagTarget(const stats_client::Target& target,
                                        const ConnectionOptions& flags) {
  TargetConfig t;
  t.name = target.address;
  t.target = target;
  t.security = flags;
  t.security.targets.clear();
  t.security.socket.clear();
  absl::StatusOr<std::shared_ptr<const ClientSecurity>> cred = LoadCredentials(t.security);
  if (!cred.ok()) return cred.status();
  t.credentials = *std::move(cred);
  return t;
}

// A spec's field, else the default.
std::string Or(const std::string& field, const std::string& fallback) {
  return field.empty() ? fallback : field;
}

}  // namespace

bool TargetConfig::operator==(const TargetConfig& other) const {
  const ConnectionOptions& a = security;
  const ConnectionOptions& b = other.security;
  return name == other.name && target.address == other.target.address && a.ca_file == b.ca_file &&
         a.cert_file == b.cert_file && a.key_file == b.key_file && a.token_file == b.token_file &&
         a.tls_server_name == b.tls_server_name && a.plaintext == b.plaintext;
}

absl::StatusOr<std::vector<TargetConfig>> ResolveTargetsFile(const std::string& path,
                                                             const std::string& text,
                                                             const ConnectionOptions& defaults) {
  TargetsFile file;
  google::protobuf::TextFormat::Parser parser;
  ParseErrors errors(path);
  parser.RecordErrorsTo(&errors);
  google::protobuf::TextFormat::ParseInfoTree where;
  parser.WriteLocationsTo(&where);
  if (!parser.ParseFromString(text, &file)) {
    return absl::InvalidArgumentError(errors.first().empty() ? absl::StrCat(path, ": cannot parse")
                                                             : errors.first());
  }
  const google::protobuf::FieldDescriptor* field =
      TargetsFile::descriptor()->FindFieldByName("target");
  std::vector<TargetConfig> out;
  std::set<std::string> names;
  for (int i = 0; i < file.target_size(); ++i) {
    const TargetSpec& spec = file.target(i);
    const google::protobuf::TextFormat::ParseLocation at = where.GetLocation(field, i);
    const std::string prefix =
        absl::StrCat(path, ":", at.line + 1, ":", at.column + 1, ": target ");
    if (spec.address().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          prefix, "has no address (\"unix:/run/mydevd/mydevd.sock\" or \"HOST:PORT\")"));
    }
    TargetConfig t;
    t.target = stats_client::TargetFromAddress(spec.address());
    t.name = spec.name().empty() ? spec.address() : spec.name();
    const bool own_tls =
        !spec.ca_file().empty() || !spec.cert_file().empty() || !spec.key_file().empty();
    ConnectionOptions& c = t.security;
    c.plaintext = spec.plaintext() || (defaults.plaintext && !own_tls);
    if (!c.plaintext) {
      c.ca_file = Or(spec.ca_file(), defaults.ca_file);
      // A certificate and its key come together: both from the spec or both from the flags.
      const bool own_cert = !spec.cert_file().empty() || !spec.key_file().empty();
      c.cert_file = own_cert ? spec.cert_file() : defaults.cert_file;
      c.key_file = own_cert ? spec.key_file() : defaults.key_file;
    } else if (own_tls) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "'", t.name, "': plaintext contradicts ca_file/cert_file/key_file"));
    }
    c.token_file = Or(spec.token_file(), defaults.token_file);
    c.tls_server_name = Or(spec.tls_server_name(), defaults.tls_server_name);
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "'", t.name, "' is named twice (give each a distinct name)"));
    }
    absl::StatusOr<std::shared_ptr<const ClientSecurity>> cred = LoadCredentials(c);
    if (!cred.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(prefix, "'", t.name, "': ", cred.status().message()));
    }
    t.credentials = *std::move(cred);
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<std::vector<TargetConfig>> CombineTargets(const ConnectionOptions& flags,
                                                         const std::vector<TargetConfig>& from_file,
                                                         bool have_file, const char* socket_env) {
  std::vector<TargetConfig> out;
  std::vector<stats_client::Target> flag_targets;
  if (!flags.targets.empty() || !have_file) {
    flag_targets = stats_client::ResolveTargets(flags, socket_env);  // the local socket if none
  }
  for (const stats_client::Target& target : flag_targets) {
    absl::StatusOr<TargetConfig> t = FlagTarget(target, flags);
    if (!t.ok()) return t.status();
    out.push_back(*std::move(t));
  }
  out.insert(out.end(), from_file.begin(), from_file.end());
  std::set<std::string> names;
  for (const TargetConfig& t : out) {
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target '", t.name, "' is given twice (by --target and/or the targets file)"));
    }
  }
  return out;
}

TargetsSource::TargetsSource(ConnectionOptions flags, std::string targets_file,
                             const char* socket_env)
    : flags_(std::move(flags)),
      file_(std::move(targets_file)),
      socket_env_(socket_env == nullptr ? "" : socket_env),
      have_socket_env_(socket_env != nullptr) {}

TargetsSource::FileId TargetsSource::StatFile() const {
  FileId id;
  struct stat st;
  if (file_.empty() || ::stat(file_.c_str(), &st) != 0) return id;
  id.exists = true;
  id.inode = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

bool TargetsSource::FileChanged() const { return !file_.empty() && !(StatFile() == seen_); }

absl::StatusOr<std::vector<TargetConfig>> TargetsSource::Load() {
  std::vector<TargetConfig> from_file;
  if (!file_.empty()) {
    // Identity first: a change while reading is seen by the next FileChanged.
    seen_ = StatFile();
    std::ifstream in(file_, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--targets_file: cannot read ", file_, ": ", std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::vector<TargetConfig>> parsed =
        ResolveTargetsFile(file_, text.str(), flags_);
    if (!parsed.ok()) return parsed.status();
    from_file = *std::move(parsed);
  }
  return CombineTargets(flags_, from_file, !file_.empty(),
                        have_socket_env_ ? socket_env_.c_str() : nullptr);
}

}  // namespace mydev::dashboard
