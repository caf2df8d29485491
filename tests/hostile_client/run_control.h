// run_control.h — when hostile_client stops: the flag SIGTERM and SIGINT
// set (long-running roles report and exit on it), a monotonic clock in
// milliseconds, and sleeping until a time is up or a stop was asked for.
#ifndef MYDEV_TESTS_HOSTILE_CLIENT_RUN_CONTROL_H_
#define MYDEV_TESTS_HOSTILE_CLIENT_RUN_CONTROL_H_

#include <cstdint>

namespace mydev::hostile {

// SIGTERM and SIGINT set the stop flag; SIGPIPE is ignored (attacks write
// to sockets the daemon may have closed).
void InstallSignalHandlers();

// Whether SIGTERM or SIGINT came.
bool StopRequested();

// Monotonic milliseconds.
int64_t NowMs();

// Sleeps `seconds`, or less if a stop is asked for meanwhile.
void SleepUntilStopped(double seconds);

}  // namespace mydev::hostile

#endif  // MYDEV_TESTS_HOSTILE_CLIENT_RUN_CONTROL_H_
