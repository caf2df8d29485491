// health_command.cc — `health` (commands.h): the standard gRPC health check
// (grpc.health.v1.Health/Check, stubs in //third_party/grpc_health) on each
// target, for exec probes and scripts.
//
//   $ mydevctl health; echo $?
//   SERVING
//   0
#include <cstdio>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/mydevctl/commands.h"

namespace mydev::ctl {

using stats_client::ClientSecurity;
using stats_client::StatusText;
using stats_client::Target;

int RunHealth(const std::vector<Target>& targets, const ClientSecurity& security,
              const CommandOptions& options) {
  using grpc::health::v1::HealthCheckResponse;
  int status = 0;
  for (const Target& target : targets) {
    auto stub = grpc::health::v1::Health::NewStub(security.MakeChannel(target));
    grpc::ClientContext ctx;
    security.PrepareCall(&ctx);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(options.service);
    HealthCheckResponse resp;
    grpc::Status st = stub->Check(&ctx, req, &resp);
    std::string text =
        st.ok() ? HealthCheckResponse::ServingStatus_Name(resp.status()) : StatusText(st);
    if (!st.ok() || resp.status() != HealthCheckResponse::SERVING) status = 1;
    if (targets.size() > 1) {
      std::printf("%s: %s\n", target.label.c_str(), text.c_str());
    } else {
      std::printf("%s\n", text.c_str());
    }
  }
  std::fflush(stdout);
  return status;
}

}  // namespace mydev::ctl
