// snapshot_commands.cc — `devices`, `sessions` and `stats` (commands.h):
// GetStats from each target, or a WatchStats stream with --watch, printed
// by printers.h. With several targets, kv output puts a
// "target address=... label=..." line before each target's block, table
// output a blank line between blocks, json one line per target.
#include <cstdio>

#include "absl/strings/str_format.h"
#include "proto/mydev.grpc.pb.h"
#include "tools/mydevctl/commands.h"

namespace mydev::ctl {

using stats_client::ClientSecurity;
using stats_client::StatusText;
using stats_client::Target;
namespace {

// Writes text to stdout now (a pipe reader sees each snapshot as it comes).
void Emit(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// " (TLS + token)" for a remote target, how the call went out; "" for a local one.
std::string ChannelNote(const Target& target, const ClientSecurity& security) {
  return target.local ? "" : " (" + security.Describe() + ")";
}

// The printers' view of a target.
SnapshotSource SourceOf(const Target& t) { return SnapshotSource{t.address, t.local}; }

// --watch: one stream, every snapshot printed, until it ends.
int Watch(Sections sections, const Target& target, const ClientSecurity& security,
          const CommandOptions& options) {
  auto stub = mydev::v1::Stats::NewStub(security.MakeChannel(target));
  grpc::ClientContext ctx;
  security.PrepareCall(&ctx);
  mydev::v1::WatchStatsRequest req;
  req.set_interval_ms(static_cast<uint32_t>(options.watch_ms));
  auto reader = stub->WatchStats(&ctx, req);
  mydev::v1::StatsSnapshot snap;
  bool first = true;
  while (reader->Read(&snap)) {
    std::string text = FormatSnapshot(snap, options.format, sections, SourceOf(target));
    if (options.format == OutputFormat::kTable && !first) text.insert(0, "\n");
    Emit(text);
    first = false;
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    std::fprintf(stderr, "mydevctl: watching %s%s: %s\n", target.address.c_str(),
                 ChannelNote(target, security).c_str(), StatusText(st).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int RunSnapshotCommand(Sections sections, const std::vector<Target>& targets,
                       const ClientSecurity& security, const CommandOptions& options) {
  if (options.watch_ms >= 0) {
    if (targets.size() != 1) {
      std::fprintf(stderr,
                   "mydevctl: --watch follows one target (got %zu); `mydevctl top` shows several\n",
                   targets.size());
      return 2;
    }
    return Watch(sections, targets.front(), security, options);
  }
  int status = 0;
  bool first = true;
  for (const Target& target : targets) {
    auto stub = mydev::v1::Stats::NewStub(security.MakeChannel(target));
    grpc::ClientContext ctx;
    security.PrepareCall(&ctx);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout));
    mydev::v1::StatsSnapshot snap;
    grpc::Status st = stub->GetStats(&ctx, mydev::v1::GetStatsRequest(), &snap);
    if (!st.ok()) {
      std::fprintf(stderr, "mydevctl: cannot get stats from mydevd at %s%s: %s\n",
                   target.address.c_str(), ChannelNote(target, security).c_str(),
                   StatusText(st).c_str());
      status = 1;
      continue;
    }
    std::string text;
    if (targets.size() > 1 && options.format == OutputFormat::kKv)
      text = absl::StrFormat("target address=%s label=%s\n", KvEscape(target.address),
                             KvEscape(target.label));
    if (options.format == OutputFormat::kTable && !first) text = "\n";
    text += FormatSnapshot(snap, options.format, sections, SourceOf(target));
    Emit(text);
    first = false;
  }
  return status;
}

}  // namespace mydev::ctl
