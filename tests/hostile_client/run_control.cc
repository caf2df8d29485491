// run_control.cc — the stop flag, the clock, interruptible sleeps (see
// run_control.h).
#include "tests/hostile_client/run_control.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace mydev::hostile {
namespace {

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool StopRequested() { return g_stop.load(); }

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepUntilStopped(double seconds) {
  const int64_t end = NowMs() + static_cast<int64_t>(seconds * 1000);
  while (!g_stop.load() && NowMs() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace mydev::hostile
