// config.cc — see config.h.
#include "daemon/control/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
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
  if (!parser.ParseFromString(std::string(text), &config)) {
    if (errors.errors().empty())
      return absl::InvalidArgumentError(absl::StrCat(name, ": parse error"));
    return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "; "));
  }
  if (absl::Status s = ValidateConfig(config); !s.ok())
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", s.message()));
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
  if (r.max_message_bytes < 4096)
    return absl::InvalidArgumentError("limits: max_message_bytes must be at least 4096");
  if (absl::StatusOr<AccessPolicy> access = BuildAccessPolicy(config); !access.ok())
    return access.status();
  return absl::OkStatus();
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
  return r;
}

}  // namespace mydev::daemon
