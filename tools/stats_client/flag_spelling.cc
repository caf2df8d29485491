// flag_spelling.cc — see flag_spelling.h.
#include "tools/stats_client/flag_spelling.h"

#include <algorithm>
#include <cstddef>
#include <optional>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mydev::stats_client {
namespace {

// The spelling absl knows for a command-line flag name, dashes read as
// underscores: "token-file" -> "token_file", "no-plaintext" -> "noplaintext"
// (absl's negation of a boolean). Sets *flag; "" and null when no registered
// flag has that name.
std::string Canonical(std::string name, const absl::CommandLineFlag** flag) {
  std::replace(name.begin(), name.end(), '-', '_');
  if ((*flag = absl::FindCommandLineFlag(name)) != nullptr) return name;
  for (absl::string_view prefix : {"no_", "no"}) {
    if (!absl::StartsWith(name, prefix)) continue;
    std::string base = name.substr(prefix.size());
    const absl::CommandLineFlag* f = absl::FindCommandLineFlag(base);
    if (f != nullptr && f->IsOfType<bool>()) {
      *flag = f;
      return "no" + base;
    }
  }
  *flag = nullptr;
  return "";
}

// absl's usage flags, which its parser handles itself (they are not in the
// flag registry): --help, --helpfull, --version, ...
bool IsUsageFlag(absl::string_view name) {
  for (absl::string_view usage : {"help", "helpfull", "helpshort", "helppackage", "helpon",
                                  "helpmatch", "version", "only_check_args"}) {
    if (name == usage) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> NormalizeFlagSpelling(const std::vector<std::string>& args,
                                               std::vector<std::string>* unknown) {
  std::vector<std::string> out;
  std::vector<std::string> repeated;  // the values of every --target
  std::optional<size_t> repeated_at;  // where the joined --target goes in out
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (i == 0 || arg.size() < 2 || arg[0] != '-') {
      out.push_back(arg);
      continue;
    }
    if (arg == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    const size_t dashes = arg[1] == '-' ? 2 : 1;
    const size_t eq = arg.find('=');
    const std::string given =
        arg.substr(dashes, eq == std::string::npos ? std::string::npos : eq - dashes);
    const absl::CommandLineFlag* flag = nullptr;
    const std::string name = Canonical(given, &flag);
    if (flag == nullptr) {
      if (unknown != nullptr && !IsUsageFlag(given)) unknown->push_back(arg);
      out.push_back(arg);  // absl handles it, or says what is wrong with it
      continue;
    }
    const bool has_value = eq != std::string::npos;
    // A non-boolean flag without "=" takes the next argument as its value.
    const bool value_follows = !has_value && !flag->IsOfType<bool>() && i + 1 < args.size();
    if (name == kRepeatedFlag && (has_value || value_follows)) {
      if (!repeated_at) {
        repeated_at = out.size();
        out.emplace_back();
      }
      repeated.push_back(has_value ? arg.substr(eq + 1) : args[++i]);
      continue;
    }
    out.push_back("--" + name + (has_value ? arg.substr(eq) : ""));
    if (value_follows) out.push_back(args[++i]);
  }
  if (repeated_at) {
    out[*repeated_at] = absl::StrCat("--", kRepeatedFlag, "=", absl::StrJoin(repeated, ","));
  }
  return out;
}

}  // namespace mydev::stats_client
