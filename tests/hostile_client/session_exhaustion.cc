// session_exhaustion.cc — using up sessions: thousands opened and closed
// (`churn`: by CloseSession and by hanging up), and opening until the
// per-user limit refuses (`session-limit`).
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/hostile_client/attacks.h"
#include "tests/hostile_client/flags.h"
#include "tests/hostile_client/report.h"
#include "tests/hostile_client/run_control.h"
#include "tests/hostile_client/session.h"

namespace mydev::hostile {

// --n sessions opened and closed: alternately by CloseSession (unattached)
// and by attaching and then hanging up the fd socket.
int Churn(Capture::Stub* stub) {
  const int n = static_cast<int>(NOr(2000));
  int opened = 0, by_rpc = 0, by_hangup = 0, retries = 0, failures = 0;
  const int64_t t0 = NowMs();
  for (int i = 0; i < n && !StopRequested(); ++i) {
    mydev::v1::OpenSessionResponse o;
    grpc::Status st;
    for (int attempt = 0; attempt < 500; ++attempt) {
      st = Open(stub, DefaultOpen(), &o);
      if (st.error_code() != grpc::RESOURCE_EXHAUSTED) break;
      ++retries;  // hung-up sessions are freed asynchronously
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!st.ok()) {
      ++failures;
      Print("churn_error=" + std::string(CodeName(st.error_code())) +
            " message=" + Quote(st.error_message()));
      continue;
    }
    ++opened;
    if (i % 2 == 0) {
      if (CloseSession(stub, Ref(o)).ok())
        ++by_rpc;
      else
        ++failures;
    } else {
      std::string err;
      std::optional<Attached> a = Attach(o, &err);
      if (a)
        ++by_hangup;
      else
        ++failures;
    }  // a goes out of scope: fd socket closed, rings unmapped
  }
  Print("attack=churn opened=" + std::to_string(opened) + " closed_rpc=" + std::to_string(by_rpc) +
        " closed_hangup=" + std::to_string(by_hangup) + " retries=" + std::to_string(retries) +
        " failures=" + std::to_string(failures) + " elapsed_ms=" + std::to_string(NowMs() - t0));
  return 0;
}

// Opens sessions until refused; reports how many and the code; closes them;
// then one more open must work.
int SessionLimit(Capture::Stub* stub) {
  const int n = static_cast<int>(NOr(100));
  std::vector<mydev::v1::OpenSessionResponse> open;
  grpc::Status st;
  for (int i = 0; i < n; ++i) {
    mydev::v1::OpenSessionResponse o;
    st = Open(stub, DefaultOpen(), &o);
    if (!st.ok()) break;
    open.push_back(o);
  }
  for (const auto& o : open) CloseSession(stub, Ref(o));
  mydev::v1::OpenSessionResponse again;
  grpc::Status after = Open(stub, DefaultOpen(), &again);
  if (after.ok()) CloseSession(stub, Ref(again));
  Print("attack=session-limit opened=" + std::to_string(open.size()) +
        " code=" + CodeName(st.error_code()) + " message=" + Quote(st.error_message()) +
        " after_close=" + CodeName(after.error_code()));
  return 0;
}

}  // namespace mydev::hostile
