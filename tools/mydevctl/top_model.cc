// top_model.cc — see top_model.h.
#include "tools/mydevctl/top_model.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "tools/mydevctl/display_text.h"

namespace mydev::ctl {
namespace {

// cur - prev for a monotonic counter; nullopt when it went backwards (the
// daemon restarted and reused the name or id).
std::optional<uint64_t> Delta(uint64_t prev, uint64_t cur) {
  if (cur < prev) return std::nullopt;
  return cur - prev;
}

// part / whole in percent; -1 when whole is 0.
double Pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : -1; }

}  // namespace

const char* SortKeyName(SortKey key) {
  switch (key) {
    case SortKey::kDrops:
      return "drops";
    case SortKey::kFill:
      return "fill";
    case SortKey::kRate:
      break;
  }
  return "rate";
}

bool ParseSortKey(std::string_view text, SortKey* out) {
  for (SortKey k : {SortKey::kRate, SortKey::kDrops, SortKey::kFill}) {
    if (text == SortKeyName(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

const char* TargetStateName(TargetState state) {
  switch (state) {
    case TargetState::kUp:
      return "UP";
    case TargetState::kDown:
      return "DOWN";
    case TargetState::kConnecting:
      break;
  }
  return "connecting";
}

DeviceRow MakeDeviceRow(const mydev::v1::DeviceStats* prev, const mydev::v1::DeviceStats& cur,
                        double seconds) {
  DeviceRow row;
  row.name = cur.name();
  row.state = cur.state();
  row.state_detail = cur.state_detail();
  row.sessions = cur.sessions();
  if (prev == nullptr || seconds <= 0) return row;
  std::optional<uint64_t> packets = Delta(prev->packets_seen(), cur.packets_seen());
  std::optional<uint64_t> bytes = Delta(prev->bytes_seen(), cur.bytes_seen());
  std::optional<uint64_t> drops = Delta(prev->packets_ifdropped(), cur.packets_ifdropped());
  if (!packets || !bytes || !drops) return row;
  row.has_rates = true;
  row.pps = static_cast<double>(*packets) / seconds;
  row.bps = 8.0 * static_cast<double>(*bytes) / seconds;
  row.drops = *drops;
  row.drop_pct = Pct(static_cast<double>(*drops), static_cast<double>(*packets + *drops));
  return row;
}

SessionRow MakeSessionRow(const mydev::v1::SessionStats* prev, const mydev::v1::SessionStats& cur,
                          double seconds) {
  SessionRow row;
  row.session_id = cur.session_id();
  row.device = cur.device();
  row.uid = cur.uid();
  row.pid = cur.pid();
  row.comm = cur.comm();
  row.command = CommandText(cur);
  row.total_dropped = cur.packets_dropped();
  if (cur.ring_bytes() > 0) {
    row.fill_pct =
        Pct(static_cast<double>(cur.ring_fill_bytes()), static_cast<double>(cur.ring_bytes()));
  }
  if (prev != nullptr && seconds > 0) {
    std::optional<uint64_t> received = Delta(prev->packets_received(), cur.packets_received());
    std::optional<uint64_t> dropped = Delta(prev->packets_dropped(), cur.packets_dropped());
    if (received && dropped) {
      row.has_rates = true;
      row.pps = static_cast<double>(*received) / seconds;
      row.drops = *dropped;
      row.drop_pct = Pct(static_cast<double>(*dropped), static_cast<double>(*received + *dropped));
    }
  }
  row.hot = row.fill_pct >= kHotFillPercent || row.drops > 0;
  return row;
}

void SortSessions(SortKey key, std::vector<SessionRow>* rows) {
  // The sort value, largest first; a row without rates sorts below every row
  // with them (its rate and drops are unknown, not zero).
  auto value = [key](const SessionRow& r) {
    switch (key) {
      case SortKey::kDrops:
        return std::make_tuple(r.has_rates ? 1 : 0, static_cast<double>(r.drops),
                               static_cast<double>(r.total_dropped), r.pps);
      case SortKey::kFill:
        return std::make_tuple(1, r.fill_pct, r.has_rates ? r.pps : -1.0, 0.0);
      case SortKey::kRate:
        break;
    }
    return std::make_tuple(r.has_rates ? 1 : 0, r.pps, static_cast<double>(r.drops), 0.0);
  };
  std::stable_sort(rows->begin(), rows->end(), [&](const SessionRow& a, const SessionRow& b) {
    auto va = value(a);
    auto vb = value(b);
    if (va != vb) return va > vb;
    return std::tie(a.host, a.session_id) < std::tie(b.host, b.session_id);
  });
}

TopModel::TopModel(std::vector<ModelTarget> targets) {
  absl::MutexLock lock(&mu_);
  for (ModelTarget& t : targets) {
    PerTarget p;
    p.target = std::move(t);
    targets_.push_back(std::move(p));
  }
}

void TopModel::Update(size_t target, const mydev::v1::StatsSnapshot& snap) {
  absl::MutexLock lock(&mu_);
  if (target >= targets_.size()) return;
  PerTarget& t = targets_[target];
  const mydev::v1::StatsSnapshot* prev = t.last ? &*t.last : nullptr;
  const double seconds = prev ? static_cast<double>(snap.time_ns() - prev->time_ns()) / 1e9 : 0;

  absl::flat_hash_map<std::string, const mydev::v1::DeviceStats*> prev_devices;
  absl::flat_hash_map<uint64_t, const mydev::v1::SessionStats*> prev_sessions;
  if (prev != nullptr) {
    for (const auto& d : prev->devices()) prev_devices[d.name()] = &d;
    for (const auto& s : prev->sessions()) prev_sessions[s.session_id()] = &s;
  }
  t.devices.clear();
  for (const auto& d : snap.devices()) {
    auto it = prev_devices.find(d.name());
    t.devices.push_back(MakeDeviceRow(it == prev_devices.end() ? nullptr : it->second, d, seconds));
  }
  t.sessions.clear();
  for (const auto& s : snap.sessions()) {
    auto it = prev_sessions.find(s.session_id());
    SessionRow row = MakeSessionRow(it == prev_sessions.end() ? nullptr : it->second, s, seconds);
    row.local = t.target.local;
    t.sessions.push_back(std::move(row));
  }
  t.last = snap;
  t.state = TargetState::kUp;
  t.detail.clear();
}

void TopModel::MarkDown(size_t target, std::string reason) {
  absl::MutexLock lock(&mu_);
  if (target >= targets_.size()) return;
  PerTarget& t = targets_[target];
  t.state = TargetState::kDown;
  t.detail = std::move(reason);
  t.last.reset();
  t.devices.clear();
  t.sessions.clear();
}

TopFrame TopModel::Frame(SortKey sort, std::string_view device_filter) const {
  absl::MutexLock lock(&mu_);
  TopFrame f;
  // Host names: the daemon's own, unless it sends none or two targets share it.
  absl::flat_hash_map<std::string, int> uses;
  for (const PerTarget& t : targets_) {
    if (t.last && !t.last->host().empty()) ++uses[t.last->host()];
  }
  for (const PerTarget& t : targets_) {
    TargetRow row;
    row.label = t.target.label;
    const bool named = t.last && !t.last->host().empty() && uses[t.last->host()] == 1;
    row.host = named ? t.last->host() : t.target.label;
    row.state = t.state;
    row.detail = t.detail;
    if (t.last) {
      row.scope = t.last->scope();
      row.time_ns = t.last->time_ns();
    }
    if (t.state == TargetState::kUp) {
      for (DeviceRow d : t.devices) {
        if (!device_filter.empty() && d.name != device_filter) continue;
        d.host = row.host;
        f.devices.push_back(std::move(d));
      }
      for (SessionRow s : t.sessions) {
        if (!device_filter.empty() && s.device != device_filter) {
          ++f.filtered_out;
          continue;
        }
        s.host = row.host;
        f.sessions.push_back(std::move(s));
      }
    }
    f.targets.push_back(std::move(row));
  }
  SortSessions(sort, &f.sessions);
  return f;
}

}  // namespace mydev::ctl
