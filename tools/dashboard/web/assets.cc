// assets.cc — see assets.h; the bytes are in the generated assets_data.cc.
#include "tools/dashboard/web/assets.h"

#include "absl/strings/match.h"

namespace mydev::dashboard {

const EmbeddedAsset* FindAsset(absl::string_view path) {
  if (path == "/") path = "/index.html";
  for (size_t i = 0; i < kNumEmbeddedAssets; ++i) {
    if (path == kEmbeddedAssets[i].path) return &kEmbeddedAssets[i];
  }
  return nullptr;
}

const char* AssetContentType(absl::string_view path) {
  struct Type {
    const char* extension;
    const char* content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
  };
  for (const Type& t : kTypes) {
    if (absl::EndsWith(path, t.extension)) return t.content_type;
  }
  return "application/octet-stream";
}

}  // namespace mydev::dashboard
