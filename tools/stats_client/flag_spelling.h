// flag_spelling.h — the command line as absl::ParseCommandLine wants it:
// flag names are C identifiers (--token_file), but the issue and operators
// spell them with dashes (--token-file); and a repeated --target must add up
// where absl would keep only the last. Rewrites before parsing:
//
//   --token-file FILE          -> --token_file FILE
//   --tls-server-name=x        -> --tls_server_name=x
//   --target a --target=b      -> --target=a,b     (at the first one's place)
//
// Only names of registered flags are rewritten (an unknown one is left for
// absl to report); values, positional arguments and everything after `--`
// are left alone.
#ifndef MYDEV_TOOLS_STATS_CLIENT_FLAG_SPELLING_H_
#define MYDEV_TOOLS_STATS_CLIENT_FLAG_SPELLING_H_

#include <string>
#include <vector>

namespace mydev::stats_client {

// The flag whose repetitions are joined with commas.
inline constexpr char kRepeatedFlag[] = "target";

// args (argv[0] first) with the rewrites above. unknown (if not null) gets
// each argument naming no registered flag, so the caller can refuse it with
// its own exit status (absl's parser exits 1).
std::vector<std::string> NormalizeFlagSpelling(const std::vector<std::string>& args,
                                               std::vector<std::string>* unknown = nullptr);

}  // namespace mydev::stats_client

#endif  // MYDEV_TOOLS_STATS_CLIENT_FLAG_SPELLING_H_
