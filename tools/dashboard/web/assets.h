// assets.h — the web page's files (assets/: index.html, app.js, style.css),
// embedded in the binary at build time by the `assets_cc` genrule (xxd -i),
// so the dashboard never reads them from disk and needs no install step.
//
//   if (const EmbeddedAsset* a = FindAsset("/app.js")) {
//     Send(a->data, a->size, AssetContentType(a->path));
//   }
#ifndef MYDEV_TOOLS_DASHBOARD_WEB_ASSETS_H_
#define MYDEV_TOOLS_DASHBOARD_WEB_ASSETS_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace mydev::dashboard {

// One embedded file.
struct EmbeddedAsset {
  const char* path;           // its URL path: "/" + the file's name
  const unsigned char* data;  // its bytes
  size_t size;
};

// Every embedded file (defined in the generated assets_data.cc).
extern const EmbeddedAsset kEmbeddedAssets[];
extern const size_t kNumEmbeddedAssets;

// The asset served at `path` ("/" is "/index.html"), or null.
const EmbeddedAsset* FindAsset(absl::string_view path);

// The Content-Type for a file name by its extension (".html", ".js", ".css",
// ".svg", ".png", ".ico", ".json"; else application/octet-stream).
const char* AssetContentType(absl::string_view path);

}  // namespace mydev::dashboard

#endif  // MYDEV_TOOLS_DASHBOARD_WEB_ASSETS_H_
