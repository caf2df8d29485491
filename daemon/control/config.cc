// config.cc — see config.h.
#include "daemon/control/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/unique_fd.h"
#include "daemon/control/stats_tokens.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "shm/ring_producer.h"

namespace mydev::daemon {
namespace {

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(absl::string_view name) : name_(name) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    // TextFormat counts from 0.
    errors_.push_back(absl::StrCat(name_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    AddError(line, column, "warning: " + message);
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string name_;
  std::vector<std::string> errors_;
};

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Where in the text the field a validation error names was written: the
// message begins with a dotted path ("stats_listener.tls.cert_file ..."),
// located as deep as the text has it. "LINE:COLUMN: " (1-based), or "".
std::string LocateError(const google::protobuf::TextFormat::ParseInfoTree& root,
                        absl::string_view message) {
  const absl::string_view path = message.substr(0, message.find_first_of(" :"));
  if (!absl::StartsWith(path, "stats_listener")) return "";
  const google::protobuf::TextFormat::ParseInfoTree* tree = &root;
  const google::protobuf::Descriptor* type = mydev::config::Config::descriptor();
  std::optional<google::protobuf::TextFormat::ParseLocation> found;
  for (absl::string_view name : absl::StrSplit(path, '.')) {
    const google::protobuf::FieldDescriptor* field = type->FindFieldByName(std::string(name));
    if (field == nullptr || field->is_repeated()) break;
    google::protobuf::TextFormat::ParseLocation at = tree->GetLocation(field, -1);
    if (at.line < 0) break;
    found = at;
    if (field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(field, -1);
    if (tree == nullptr) break;
    type = field->message_type();
  }
  if (!found) return "";
  return absl::StrCat(found->line + 1, ":", found->column + 1, ": ");
}

// The file's first 1 MiB into *text; 0, or the errno of open/read (EINVAL:
// not a regular file — a FIFO or a device could block or never end).
int ReadHead(const std::string& path, std::string* text) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return errno;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  text->assign(1 << 20, '\0');
  size_t got = 0;
  while (got < text->size()) {
    ssize_t n = read(fd.get(), text->data() + got, text->size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text->resize(got);
  return 0;
}

// A PEM file that can be read and has a `marker` line.
absl::Status CheckPemFile(absl::string_view field, const std::string& path,
                          absl::string_view marker, absl::string_view what) {
  if (path.empty())
    return absl::InvalidArgumentError(absl::StrCat(field, " is empty: give the path of ", what));
  std::string text;
  if (int err = ReadHead(path, &text); err == EINVAL)
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", path, "' is not a regular file: give a PEM file"));
  else if (err != 0)
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", path, "': cannot read it (", strerror(err),
                     "): check the path, and that the user mydevd runs as may read it"));
  if (text.find(std::string(marker)) == std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat(field, " '", path, "' is not ", what, " (it has no '", marker, "' line)"));
  return absl::OkStatus();
}

// ":9471" means loopback, 127.0.0.1:9471.
std::string HealthAddressText(const std::string& configured) {
  return absl::StartsWith(configured, ":") ? "127.0.0.1" + configured : configured;
}

}  // namespace

bool IsValidDeviceName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "mydev") || name.empty() || name.size() > 9) return false;
  if (name.size() > 1 && name[0] == '0') return false;
  for (char c : name)
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

absl::StatusOr<mydev::config::Config> ParseConfig(absl::string_view text, absl::string_view name) {
  mydev::config::Config config;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors(name);
  parser.RecordErrorsTo(&errors);
  google::protobuf::TextFormat::ParseInfoTree locations;
  parser.WriteLocationsTo(&locations);
  if (!parser.ParseFromString(std::string(text), &config)) {
    if (errors.errors().empty())
      return absl::InvalidArgumentError(absl::StrCat(name, ": parse error"));
    return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "; "));
  }
  if (absl::Status s = ValidateConfig(config); !s.ok()) {
    const std::string at = LocateError(locations, s.message());
    return absl::InvalidArgumentError(
        absl::StrCat(name, at.empty() ? ": " : absl::StrCat(":", at), s.message()));
  }
  return config;
}

absl::StatusOr<mydev::config::Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

absl::Status ValidateConfig(const mydev::config::Config& config) {
  std::set<std::string> names;
  for (int i = 0; i < config.device_size(); ++i) {
    const mydev::config::DeviceConfig& d = config.device(i);
    if (!IsValidDeviceName(d.name()))
      return absl::InvalidArgumentError(
          absl::StrCat("device ", i, ": name '", d.name(), "' must be 'mydev<N>', e.g. mydev0"));
    if (!names.insert(d.name()).second)
      return absl::InvalidArgumentError(
          absl::StrCat("device name '", d.name(), "' appears more than once"));
    if (d.backend_case() == mydev::config::DeviceConfig::BACKEND_NOT_SET)
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.name(), "' has no backend; add e.g. synthetic {}"));
    if (d.has_replay()) {
      const mydev::config::ReplayBackend& r = d.replay();
      if (r.path().empty())
        return absl::InvalidArgumentError(
            absl::StrCat("device '", d.name(), "': replay needs a path to a pcap or pcapng file"));
      if (r.has_speed() &&
          !(r.speed() == 0 || (r.speed() >= kMinReplaySpeed && r.speed() <= kMaxReplaySpeed)))
        return absl::InvalidArgumentError(absl::StrCat(
            "device '", d.name(), "': replay speed ", r.speed(), " must be 0 (as fast as ",
            "possible) or between ", kMinReplaySpeed, " and ", kMaxReplaySpeed));
    }
  }
  const mydev::config::Limits& l = config.limits();
  Limits r = ResolveLimits(l);
  auto ring_ok = [](uint64_t v) {
    return IsPowerOfTwo(v) && v >= shm::RingProducer::kMinDataBytes &&
           v <= shm::RingProducer::kMaxDataBytes;
  };
  if (!ring_ok(r.default_ring_bytes) || !ring_ok(r.max_ring_bytes))
    return absl::InvalidArgumentError(absl::StrCat(
        "limits: default_ring_bytes and max_ring_bytes must be powers of two in [",
        shm::RingProducer::kMinDataBytes, ", ", shm::RingProducer::kMaxDataBytes, "]"));
  if (r.default_ring_bytes > r.max_ring_bytes)
    return absl::InvalidArgumentError("limits: default_ring_bytes exceeds max_ring_bytes");
  if (r.max_bpf_insns > 65535)
    return absl::InvalidArgumentError("limits: max_bpf_insns must be at most 65535");
  if (r.max_watch_streams > 1024)
    return absl::InvalidArgumentError(
        "limits: max_watch_streams must be at most 1024 (each stream holds a thread)");
  if (l.uid_cpu_share_percent() > 100)
    return absl::InvalidArgumentError(absl::StrCat("limits: uid_cpu_share_percent ",
                                                   l.uid_cpu_share_percent(),
                                                   " must be at most 100 (100 = no limit)"));
  if (r.ring_bytes_reserved_for_root > r.max_ring_bytes_total)
    return absl::InvalidArgumentError(
        absl::StrCat("limits: ring_bytes_reserved_for_root (", r.ring_bytes_reserved_for_root,
                     ") exceeds max_ring_bytes_total (", r.max_ring_bytes_total, ")"));
  if (r.max_message_bytes < 4096)
    return absl::InvalidArgumentError("limits: max_message_bytes must be at least 4096");
  if (absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(config); !access.ok())
    return access.status();
  if (config.has_stats_listener()) return ValidateStatsListener(config.stats_listener());
  return absl::OkStatus();
}

absl::Status ValidateStatsListener(const mydev::config::StatsListener& l) {
  auto invalid = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (l.address().empty())
    return invalid(
        "stats_listener.address is empty: set HOST:PORT, e.g. \"[::]:9470\" (with tls { ... }) "
        "or \"127.0.0.1:9470\"");
  absl::StatusOr<InetAddress> address = InetAddress::Parse(l.address());
  if (!address.ok()) return invalid("stats_listener.address ", address.status().message());
  const std::string where = absl::StrCat("stats_listener.address '", l.address(), "'");
  if (l.plaintext()) {
    if (!address->loopback())
      return invalid(where,
                     ": plaintext is allowed only on a loopback address (127.0.0.1, [::1]): "
                     "remove `plaintext: true` and add tls { cert_file: \"server.crt\" key_file: "
                     "\"server.key\" }, or listen on 127.0.0.1 or [::1]");
    if (l.has_tls())
      return invalid(
          "stats_listener.plaintext: `plaintext: true` and a tls { } block contradict each "
          "other: remove one of them");
  } else if (!l.has_tls() || (l.tls().cert_file().empty() && l.tls().key_file().empty())) {
    return invalid("stats_listener.tls: TLS is required on ", address->ToString(),
                   ": add tls { cert_file: \"server.crt\" key_file: \"server.key\" } (plaintext "
                   "is possible only on 127.0.0.1 or [::1], with `plaintext: true`)");
  }
  if (l.tls().client_ca_file().empty() && l.tokens_file().empty())
    return invalid(
        "stats_listener: no way to authenticate callers: set tls.client_ca_file (client "
        "certificates, mutual TLS) and/or tokens_file (bearer tokens)");
  if (!l.client_cert_scope().empty()) {
    if (!ParseStatsScope(l.client_cert_scope()).ok())
      return invalid("stats_listener.client_cert_scope '", l.client_cert_scope(),
                     "' must be `devices` or `sessions`");
    if (l.tls().client_ca_file().empty())
      return invalid(
          "stats_listener.client_cert_scope is set, but no client certificate is accepted "
          "(tls.client_ca_file is unset): remove it, or set tls.client_ca_file");
  }
  if (l.max_watchers() > 1024)
    return invalid("stats_listener.max_watchers ", l.max_watchers(),
                   ": at most 1024 (each stream holds a thread)");
  if (l.max_connections() > 65536 || l.max_connections_per_address() > 65536)
    return invalid("stats_listener.max_connections: at most 65536 (and per address too)");
  if (l.reload_interval_s() > 86400)
    return invalid("stats_listener.reload_interval_s ", l.reload_interval_s(),
                   ": at most 86400 (a day)");
  if (!l.health_address().empty()) {
    absl::StatusOr<InetAddress> health = InetAddress::Parse(HealthAddressText(l.health_address()));
    if (!health.ok())
      return invalid("stats_listener.health_address ", health.status().message(),
                     " (or :PORT for 127.0.0.1:PORT)");
    if (health->port() != 0 && health->port() == address->port() &&
        (health->wildcard() || address->wildcard() ||
         health->HostString() == address->HostString()))
      return invalid("stats_listener.health_address '", l.health_address(),
                     "' uses the port of stats_listener.address: give it a port of its own");
  }
  return CheckStatsListenerFiles(l);
}

absl::Status CheckStatsListenerFiles(const mydev::config::StatsListener& l) {
  if (!l.plaintext()) {
    if (absl::Status s = CheckPemFile("stats_listener.tls.cert_file", l.tls().cert_file(),
                                      "-----BEGIN CERTIFICATE-----", "a PEM certificate");
        !s.ok())
      return s;
    if (absl::Status s = CheckPemFile("stats_listener.tls.key_file", l.tls().key_file(),
                                      "PRIVATE KEY-----", "a PEM private key");
        !s.ok())
      return s;
    if (!l.tls().client_ca_file().empty()) {
      if (absl::Status s =
              CheckPemFile("stats_listener.tls.client_ca_file", l.tls().client_ca_file(),
                           "-----BEGIN CERTIFICATE-----", "a PEM CA certificate bundle");
          !s.ok())
        return s;
    }
  }
  if (!l.tokens_file().empty()) {
    absl::StatusOr<StatsTokens> tokens = StatsTokens::Load(l.tokens_file());
    if (!tokens.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("stats_listener.tokens_file: ", tokens.status().message()));
  }
  return absl::OkStatus();
}

StatsListenerSettings ResolveStatsListener(const mydev::config::StatsListener& l) {
  StatsListenerSettings s;
  if (absl::StatusOr<InetAddress> a = InetAddress::Parse(l.address()); a.ok()) s.address = *a;
  s.plaintext = l.plaintext();
  s.cert_file = l.tls().cert_file();
  s.key_file = l.tls().key_file();
  s.client_ca_file = l.tls().client_ca_file();
  s.tokens_file = l.tokens_file();
  if (absl::StatusOr<mydev::v1::StatsScope> scope = ParseStatsScope(l.client_cert_scope());
      scope.ok())
    s.client_cert_scope = *scope;
  if (l.max_watchers()) s.max_watchers = l.max_watchers();
  if (l.max_watchers_per_client()) s.max_watchers_per_client = l.max_watchers_per_client();
  if (l.max_connections()) s.max_connections = l.max_connections();
  if (l.max_connections_per_address())
    s.max_connections_per_address = l.max_connections_per_address();
  if (!l.health_address().empty()) {
    absl::StatusOr<InetAddress> h = InetAddress::Parse(HealthAddressText(l.health_address()));
    if (h.ok()) s.health_address = *h;
  }
  if (l.reload_interval_s()) s.reload_interval = absl::Seconds(l.reload_interval_s());
  return s;
}

absl::StatusOr<AccessPolicy> BuildAccessPolicy(const mydev::config::Config& config) {
  Limits r = ResolveLimits(config.limits());
  return AccessPolicy::FromConfig(config, r.max_sessions_per_uid, r.max_ring_bytes_per_uid);
}

mydev::config::Config DefaultConfig() {
  mydev::config::Config config;
  mydev::config::DeviceConfig* d = config.add_device();
  d->set_name("mydev0");
  d->set_description(kDefaultDeviceDescription);
  d->mutable_synthetic();
  return config;
}

Limits ResolveLimits(const mydev::config::Limits& l) {
  Limits r;
  if (l.default_ring_bytes()) r.default_ring_bytes = l.default_ring_bytes();
  if (l.max_ring_bytes()) r.max_ring_bytes = l.max_ring_bytes();
  if (l.max_sessions_per_uid()) r.max_sessions_per_uid = l.max_sessions_per_uid();
  if (l.max_bpf_insns()) r.max_bpf_insns = l.max_bpf_insns();
  if (l.attach_timeout_ms()) r.attach_timeout = absl::Milliseconds(l.attach_timeout_ms());
  if (l.max_message_bytes()) r.max_message_bytes = l.max_message_bytes();
  if (l.tick_ms()) r.tick = absl::Milliseconds(l.tick_ms());
  if (l.max_ring_bytes_per_uid()) r.max_ring_bytes_per_uid = l.max_ring_bytes_per_uid();
  if (l.max_connections_per_uid()) r.max_connections_per_uid = l.max_connections_per_uid();
  if (l.max_watch_streams()) r.max_watch_streams = l.max_watch_streams();
  if (l.max_watch_streams_per_uid()) r.max_watch_streams_per_uid = l.max_watch_streams_per_uid();
  if (l.uid_cpu_share_percent()) r.uid_cpu_share = l.uid_cpu_share_percent() / 100.0;
  r.max_ring_bytes_total = l.max_ring_bytes_total();
  if (r.max_ring_bytes_total == 0) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    r.max_ring_bytes_total = pages > 0 && page > 0
                                 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4
                                 : 4ull << 30;
  }
  r.ring_bytes_reserved_for_root =
      l.ring_bytes_reserved_for_root() != 0 ? l.ring_bytes_reserved_for_root() : r.max_ring_bytes;
  return r;
}

}  // namespace mydev::daemon
