// The dashboard's files, served from ApiOptions::web_root (web/dist).
// Only single-segment names directly under the root are served; anything
// that could step outside it is refused before touching the file system.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "api/handlers.h"

namespace ovoflow::api {

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

const char kNotBuiltPage[] = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ovoflow</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>ovoflow &mdash; dashboard not built</h1>
<p>The API is running, but no dashboard files were found. Build them with
<code>make web</code> and start the server with <code>--web-root web/dist</code>.</p>
<p>API: <a href="/openapi.yaml">/openapi.yaml</a>, <a href="/v1/stats">/v1/stats</a>,
<a href="/metrics">/metrics</a>.</p>
</body></html>
)";

std::string_view ContentType(const fs::path& file) {
  std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return {};
}

bool SafeName(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;  // "..", hidden files
  for (char c : name)
    if (c == '/' || c == '\\' || c == '\0' || c == ':') return false;
  return true;
}

// The root folder, or empty when there is no usable dashboard build.
fs::path WebRoot(const ApiOptions& options) {
  if (options.web_root.empty()) return {};
  std::error_code ec;
  fs::path root = fs::canonical(options.web_root, ec);
  if (ec || !fs::is_directory(root, ec)) return {};
  return root;
}

Response ServeFile(const fs::path& root, const std::string& name, const std::string& instance) {
  if (!SafeName(name)) return Problem(kNotFound, "no file '" + name + "' in the dashboard", instance);
  std::error_code ec;
  fs::path file = fs::canonical(root / name, ec);
  // canonical() resolves symlinks: the file must still lie directly in the root.
  if (ec || file.parent_path() != root || !fs::is_regular_file(file, ec))
    return Problem(kNotFound, "no file '" + name + "' in the dashboard", instance);
  std::string_view type = ContentType(file);
  if (type.empty()) return Problem(kNotFound, "no file '" + name + "' in the dashboard", instance);
  std::ifstream in(file, std::ios::binary);
  std::ostringstream data;
  data << in.rdbuf();
  if (!in.good() && !in.eof()) return Problem(kInternal, "cannot read " + name, instance);
  Response res = TextResponse(200, type, data.str());
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  return res;
}

}  // namespace

Response HandleIndex(const RequestContext& ctx) {
  fs::path root = WebRoot(ctx.options);
  std::error_code ec;
  if (root.empty() || !fs::is_regular_file(root / "index.html", ec))
    return TextResponse(200, "text/html; charset=utf-8", kNotBuiltPage);
  return ServeFile(root, "index.html", std::string(ctx.request.target()));
}

Response HandleAsset(const RequestContext& ctx) {
  const std::string& name = ctx.path_params.at(0);
  fs::path root = WebRoot(ctx.options);
  if (root.empty())
    return Problem(kNotFound, "the dashboard is not built (run `make web`)", std::string(ctx.request.target()));
  return ServeFile(root, name, std::string(ctx.request.target()));
}

}  // namespace ovoflow::api
