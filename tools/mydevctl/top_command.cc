// top_command.cc — `top` (commands.h): a StatsWatcher thread per target
// feeding one TopModel, and the screen loop: draw a frame, wait up to 200 ms
// for a key, apply it, check the streams for stalls, again, until q, ^C or
// SIGTERM. The loop never waits on the network.
//
//   mydevctl top
//   mydevctl top --target a:9470 --target b:9470 --ca ca.crt --token-file tok --interval_ms 500
#include <csignal>
#include <cstdio>
#include <memory>

#include "tools/mydevctl/commands.h"
#include "tools/mydevctl/top_controls.h"
#include "tools/mydevctl/top_model.h"
#include "tools/mydevctl/top_view.h"
#include "tools/stats_client/stats_watcher.h"

namespace mydev::ctl {

using stats_client::ClientSecurity;
using stats_client::StatsWatcher;
using stats_client::Target;

namespace {

// Set by SIGINT / SIGTERM: leave the loop, restore the terminal.
volatile std::sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

// How long the loop waits for a key before redrawing.
constexpr int kRefreshMs = 200;

}  // namespace

int RunTop(const std::vector<Target>& targets, const ClientSecurity& security,
           const CommandOptions& options) {
  std::string why;
  std::unique_ptr<TopView> view = TopView::Open(&why);
  if (view == nullptr) {
    std::fprintf(stderr, "mydevctl top: %s\n", why.c_str());
    return 2;
  }
  std::vector<ModelTarget> names;
  for (const Target& t : targets) names.push_back(ModelTarget{t.label, t.local});
  TopModel model(std::move(names));
  std::vector<std::unique_ptr<StatsWatcher>> watchers;
  for (size_t i = 0; i < targets.size(); ++i) {
    watchers.push_back(
        std::make_unique<StatsWatcher>(i, targets[i], &security, options.interval, &model));
    watchers.back()->Start();
  }
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);

  TopControls controls(options.sort, options.device);
  while (!g_stop) {
    const absl::Time now = absl::Now();
    view->Draw(model.Frame(controls.sort(), controls.filter()), controls,
               TopHeader{options.interval, now});
    int key = view->ReadKey(kRefreshMs);
    if (key >= 0 && controls.HandleKey(key) == TopControls::Result::kQuit) break;
    for (auto& w : watchers) w->CheckStalled(absl::Now());
  }
  view.reset();  // the terminal first: stopping the streams may take a moment
  watchers.clear();
  return 0;
}

}  // namespace mydev::ctl
