#include "store/store_url.h"

#include <cctype>

namespace ovoflow::store {
namespace {

constexpr const char* kAccepted =
    "use sqlite:///absolute/path.db, sqlite://relative/path.db, a plain file path, or postgresql://...";

}  // namespace

Result<StoreLocation> ParseStoreUrl(const std::string& url) {
  if (url.empty()) return Status::InvalidArgument(std::string("the store URL is empty; ") + kAccepted);
  StoreLocation loc;
  const std::size_t sep = url.find("://");
  if (sep == std::string::npos) {
    loc.target = url;  // a plain path
  } else {
    std::string scheme = url.substr(0, sep);  // schemes are case-insensitive (RFC 3986)
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "postgresql" || scheme == "postgres") {
      loc.backend = StoreBackend::kPostgres;
      loc.target = url;
      return loc;
    }
    if (scheme != "sqlite") {
      return Status::InvalidArgument("unsupported store URL scheme '" + scheme + "' in '" + url + "'; " + kAccepted);
    }
    loc.target = url.substr(sep + 3);
    if (loc.target.empty())
      return Status::InvalidArgument("the store URL '" + url + "' has no file path; " + kAccepted);
  }
  if (loc.target == ":memory:" || loc.target.starts_with("file:")) {
    return Status::InvalidArgument(
        "'" + url +
        "': in-memory databases and SQLite URI filenames are not supported (the store's writer and "
        "reader connections must share one file); " +
        kAccepted);
  }
  return loc;
}

}  // namespace ovoflow::store
