// fleet_state.cc — see fleet_state.h.
#include "tools/dashboard/fleet_state.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/user_name.h"
#include "google/protobuf/util/json_util.h"

namespace mydev::dashboard {
namespace {

using mydev::dashboard::v1::DashboardState;
using mydev::dashboard::v1::DeviceView;
using mydev::dashboard::v1::RatePoint;
using mydev::dashboard::v1::SessionView;
using mydev::dashboard::v1::TargetView;

// cur - prev into *delta; false when the counter went down (a restart).
bool Delta(uint64_t prev, uint64_t cur, uint64_t* delta) {
  if (cur < prev) return false;
  *delta = cur - prev;
  return true;
}

// "up", "waiting": the device state's short name.
std::string DeviceStateName(mydev::v1::DeviceState state) {
  switch (state) {
    case mydev::v1::DEVICE_STATE_UP:
      return "up";
    case mydev::v1::DEVICE_STATE_WAITING:
      return "waiting";
    default:
      return "unspecified";
  }
}

// "devices", "sessions", "local" ("" unspecified).
std::string ScopeName(mydev::v1::StatsScope scope) {
  switch (scope) {
    case mydev::v1::STATS_SCOPE_DEVICES:
      return "devices";
    case mydev::v1::STATS_SCOPE_SESSIONS:
      return "sessions";
    case mydev::v1::STATS_SCOPE_LOCAL:
      return "local";
    default:
      return "";
  }
}

// Points per device history: history / interval, rounded up, at least 1.
size_t HistoryCapacity(absl::Duration history, absl::Duration interval) {
  if (interval <= absl::ZeroDuration() || history <= absl::ZeroDuration()) return 1;
  return std::max<size_t>(1, static_cast<size_t>(std::ceil(absl::FDivDuration(history, interval))));
}

// "target NAME (ADDRESS)", or "target ADDRESS" when it is named by its address.
std::string TargetText(const TargetConfig& t) {
  return t.name == t.target.address ? absl::StrCat("target ", t.name)
                                    : absl::StrCat("target ", t.name, " (", t.target.address, ")");
}

// For WaitForChange's condition.
struct WaitArgs {
  const uint64_t* version;
  uint64_t seen;
};

bool VersionAbove(WaitArgs* args) { return *args->version > args->seen; }

}  // namespace

// ------------------------------------------------------------------ RateRing

void FleetState::RateRing::Push(const RatePoint& point, size_t capacity) {
  if (points_.size() < capacity) {
    points_.push_back(point);
    return;
  }
  points_[next_] = point;
  next_ = (next_ + 1) % points_.size();
}

std::vector<RatePoint> FleetState::RateRing::Points() const {
  std::vector<RatePoint> out;
  out.reserve(points_.size());
  for (size_t i = 0; i < points_.size(); ++i) out.push_back(points_[(next_ + i) % points_.size()]);
  return out;
}

const RatePoint* FleetState::RateRing::Newest() const {
  if (points_.empty()) return nullptr;
  return &points_[(next_ + points_.size() - 1) % points_.size()];
}

// ------------------------------------------------------------------ FleetState

FleetState::FleetState(FleetOptions options)
    : options_(std::move(options)),
      history_capacity_(HistoryCapacity(options_.history, options_.interval)),
      metrics_(options_.metrics, [this] { return Targets(); }) {}

size_t FleetState::AddTarget(const TargetConfig& config) {
  absl::MutexLock lock(&mu_);
  const size_t id = next_id_++;
  entries_[id].config = config;
  Changed();
  return id;
}

void FleetState::RemoveTarget(size_t id) {
  absl::MutexLock lock(&mu_);
  if (entries_.erase(id) > 0) Changed();
}

void FleetState::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void FleetState::UpdateRates(Entry* e, const mydev::v1::StatsSnapshot& cur) const {
  const mydev::v1::StatsSnapshot* prev = e->last ? &*e->last : nullptr;
  const double seconds =
      prev == nullptr ? 0 : static_cast<double>(cur.time_ns() - prev->time_ns()) / 1e9;
  const bool can = prev != nullptr && seconds > 0;

  // Sessions first: a device's drops include its sessions'.
  std::map<uint64_t, const mydev::v1::SessionStats*> before;
  if (can) {
    for (const mydev::v1::SessionStats& s : prev->sessions()) before[s.session_id()] = &s;
  }
  std::map<std::string, uint64_t> session_drops;  // by device, over the interval
  std::map<uint64_t, Rates> session_rates;
  for (const mydev::v1::SessionStats& s : cur.sessions()) {
    Rates r;
    auto it = before.find(s.session_id());
    uint64_t packets = 0, bytes = 0, drops = 0;
    if (it != before.end() && it->second->opened_time_ns() == s.opened_time_ns() &&
        Delta(it->second->packets_received(), s.packets_received(), &packets) &&
        Delta(it->second->bytes_received(), s.bytes_received(), &bytes) &&
        Delta(it->second->packets_dropped(), s.packets_dropped(), &drops)) {
      r.has = true;
      r.packets_per_second = static_cast<double>(packets) / seconds;
      r.bits_per_second = 8.0 * static_cast<double>(bytes) / seconds;
      r.drops_per_second = static_cast<double>(drops) / seconds;
      session_drops[s.device()] += drops;
    } else if (can && it == before.end() && s.opened_time_ns() > prev->time_ns()) {
      // Opened within the interval: all its drops are the interval's.
      session_drops[s.device()] += s.packets_dropped();
    }
    session_rates[s.session_id()] = r;
  }
  e->session_rates = std::move(session_rates);

  std::map<std::string, const mydev::v1::DeviceStats*> dev_before;
  if (can) {
    for (const mydev::v1::DeviceStats& d : prev->devices()) dev_before[d.name()] = &d;
  }
  std::map<std::string, Rates> device_rates;
  std::set<std::string> present;
  for (const mydev::v1::DeviceStats& d : cur.devices()) {
    present.insert(d.name());
    Rates r;
    auto it = dev_before.find(d.name());
    uint64_t packets = 0, bytes = 0, ifdrops = 0;
    if (it != dev_before.end() && Delta(it->second->packets_seen(), d.packets_seen(), &packets) &&
        Delta(it->second->bytes_seen(), d.bytes_seen(), &bytes) &&
        Delta(it->second->packets_ifdropped(), d.packets_ifdropped(), &ifdrops)) {
      r.has = true;
      r.packets_per_second = static_cast<double>(packets) / seconds;
      r.bits_per_second = 8.0 * static_cast<double>(bytes) / seconds;
      r.drops_per_second = static_cast<double>(ifdrops + session_drops[d.name()]) / seconds;
      RatePoint p;
      p.set_time_ns(cur.time_ns());
      p.set_packets_per_second(r.packets_per_second);
      p.set_bits_per_second(r.bits_per_second);
      p.set_drops_per_second(r.drops_per_second);
      e->history[d.name()].Push(p, history_capacity_);
    }
    device_rates[d.name()] = r;
  }
  e->device_rates = std::move(device_rates);
  // A device the daemon no longer has takes its history along.
  for (auto it = e->history.begin(); it != e->history.end();) {
    it = present.count(it->first) ? std::next(it) : e->history.erase(it);
  }
}

void FleetState::OnSnapshot(size_t id, const mydev::v1::StatsSnapshot& snapshot) {
  // The owners' names, looked up without the lock (NSS may be slow).
  std::set<uint32_t> unknown;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (it->second.config.target.local) {
      for (const mydev::v1::SessionStats& s : snapshot.sessions()) {
        if (it->second.users.count(s.uid()) == 0) unknown.insert(s.uid());
      }
    }
  }
  std::map<uint32_t, std::string> names;
  for (uint32_t uid : unknown) {
    names[uid] = options_.user_name ? options_.user_name(uid) : UserNameOf(uid);
  }
  std::string line;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    e.users.insert(names.begin(), names.end());
    UpdateRates(&e, snapshot);
    if (e.phase != Phase::kUp) {
      line = absl::StrCat(TargetText(e.config), ": up, host ",
                          snapshot.host().empty() ? "?" : snapshot.host());
    }
    e.phase = Phase::kUp;
    e.down_reason.clear();
    e.down_since_ns = 0;
    e.host = snapshot.host();
    e.last_snapshot_time_ns = snapshot.time_ns();
    e.last = snapshot;
    Changed();
  }
  if (!line.empty()) Log(line);
}

void FleetState::OnDown(size_t id, std::string reason) {
  std::string line;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    Entry& e = it->second;
    if (e.phase != Phase::kDown) {
      line = absl::StrCat(TargetText(e.config), ": down: ", reason);
      e.down_since_ns = absl::ToUnixNanos(absl::Now());
    }
    e.phase = Phase::kDown;
    e.down_reason = std::move(reason);
    e.last.reset();  // the next snapshot's rates start afresh
    e.device_rates.clear();
    e.session_rates.clear();
    Changed();
  }
  if (!line.empty()) Log(line);
}

std::vector<TargetStatus> FleetState::Targets() const {
  absl::MutexLock lock(&mu_);
  std::vector<TargetStatus> out;
  out.reserve(entries_.size());
  for (const auto& [id, e] : entries_) {
    TargetStatus t;
    t.name = e.config.name;
    t.address = e.config.target.address;
    t.up = e.phase == Phase::kUp && e.last.has_value();
    t.host = e.host;
    t.last_snapshot_time_ns = e.last_snapshot_time_ns;
    if (t.up) t.snapshot = *e.last;
    out.push_back(std::move(t));
  }
  return out;
}

DashboardState FleetState::State(bool full_history, absl::Time now) const {
  DashboardState state;
  state.set_time_ns(absl::ToUnixNanos(now));
  state.set_full_history(full_history);
  absl::MutexLock lock(&mu_);
  state.set_version(version_);
  for (const auto& [id, e] : entries_) {
    TargetView* t = state.add_targets();
    t->set_name(e.config.name);
    t->set_address(e.config.target.address);
    t->set_up(e.phase == Phase::kUp && e.last.has_value());
    t->set_down_reason(e.phase == Phase::kConnecting ? "connecting" : e.down_reason);
    t->set_host(e.host);
    t->set_last_snapshot_time_ns(e.last_snapshot_time_ns);
    t->set_down_since_time_ns(e.down_since_ns);
    if (!t->up()) continue;
    const mydev::v1::StatsSnapshot& snap = *e.last;
    t->set_scope(ScopeName(snap.scope()));
    for (const mydev::v1::DeviceStats& d : snap.devices()) {
      DeviceView* v = t->add_devices();
      v->set_name(d.name());
      v->set_backend(d.backend());
      v->set_state(DeviceStateName(d.state()));
      v->set_state_detail(d.state_detail());
      v->set_packets_total(d.packets_seen());
      v->set_bytes_total(d.bytes_seen());
      v->set_ifdrops_total(d.packets_ifdropped());
      v->set_sessions(d.sessions());
      if (auto r = e.device_rates.find(d.name()); r != e.device_rates.end()) {
        v->set_packets_per_second(r->second.packets_per_second);
        v->set_bits_per_second(r->second.bits_per_second);
        v->set_drops_per_second(r->second.drops_per_second);
      }
      if (auto h = e.history.find(d.name()); h != e.history.end()) {
        if (full_history) {
          for (const RatePoint& p : h->second.Points()) *v->add_history() = p;
        } else if (const RatePoint* p = h->second.Newest()) {
          *v->add_history() = *p;
        }
      }
    }
    for (const mydev::v1::SessionStats& s : snap.sessions()) {
      SessionView* v = t->add_sessions();
      v->set_session_id(s.session_id());
      v->set_device(s.device());
      v->set_uid(s.uid());
      if (auto u = e.users.find(s.uid()); u != e.users.end()) v->set_user(u->second);
      v->set_pid(s.pid());
      v->set_comm(s.comm());
      v->set_cmdline(s.cmdline());
      v->set_packets_total(s.packets_received());
      v->set_drops_total(s.packets_dropped());
      if (auto r = e.session_rates.find(s.session_id()); r != e.session_rates.end()) {
        v->set_packets_per_second(r->second.packets_per_second);
        v->set_bits_per_second(r->second.bits_per_second);
        v->set_drops_per_second(r->second.drops_per_second);
      }
      v->set_ring_fill_ratio(s.ring_bytes() == 0 ? 0.0
                                                 : static_cast<double>(s.ring_fill_bytes()) /
                                                       static_cast<double>(s.ring_bytes()));
      v->set_opened_time_ns(s.opened_time_ns());
    }
  }
  return state;
}

std::string FleetState::MetricsText() { return metrics_.Text(); }

std::string FleetState::StateJson(bool full_history) {
  const DashboardState state = State(full_history, absl::Now());
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  google::protobuf::util::Status status =
      google::protobuf::util::MessageToJsonString(state, &json, options);
  if (!status.ok()) {
    // Only invalid UTF-8 in a string field (a daemon's comm) gets here.
    return absl::StrCat("{\"error\":\"", absl::CEscape(std::string(status.message())), "\"}");
  }
  return json;
}

uint64_t FleetState::WaitForChange(uint64_t seen, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  WaitArgs args{&version_, seen};
  mu_.AwaitWithTimeout(absl::Condition(&VersionAbove, &args), timeout);
  return version_;
}

// ------------------------------------------------------------------ TargetWatchers

TargetWatchers::TargetWatchers(FleetState* fleet, absl::Duration interval)
    : fleet_(fleet), interval_(interval) {}

TargetWatchers::~TargetWatchers() { Apply({}); }

void TargetWatchers::Apply(const std::vector<TargetConfig>& targets) {
  std::vector<Watched> keep;
  std::vector<Watched> gone;
  for (Watched& w : watched_) {
    const bool wanted = std::any_of(targets.begin(), targets.end(),
                                    [&](const TargetConfig& t) { return t == w.config; });
    (wanted ? keep : gone).push_back(std::move(w));
  }
  // Stop before forgetting: a stopped watcher makes no more calls. Stopping
  // joins the thread, so no lock of the fleet is held meanwhile.
  for (Watched& w : gone) {
    w.watcher->Stop();
    fleet_->RemoveTarget(w.id);
  }
  gone.clear();
  watched_.clear();
  for (const TargetConfig& t : targets) {
    auto kept = std::find_if(keep.begin(), keep.end(),
                             [&](const Watched& w) { return w.watcher && w.config == t; });
    if (kept != keep.end()) {
      watched_.push_back(std::move(*kept));
      continue;
    }
    Watched w;
    w.config = t;
    w.id = fleet_->AddTarget(t);
    w.watcher = std::make_unique<stats_client::StatsWatcher>(
        w.id, t.target, w.config.credentials.get(), interval_, fleet_);
    w.watcher->Start();
    watched_.push_back(std::move(w));
  }
}

void TargetWatchers::CheckStalled(absl::Time now) {
  for (Watched& w : watched_) w.watcher->CheckStalled(now);
}

}  // namespace mydev::dashboard
