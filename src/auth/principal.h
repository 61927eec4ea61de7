// Who a verified bearer token says the caller is: issuer and subject, the
// roles and the tenants (hatcheries) it acts for, and until when.
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace ovoflow::auth {

// The role names tokens carry (docs/security.md, "Roles").
inline constexpr const char* kPlatformAdmin = "platform-admin";  // every tenant; models
inline constexpr const char* kHatcheryAdmin = "hatchery-admin";  // own tenants: thresholds, outcomes, users' roles
inline constexpr const char* kOperator = "operator";             // own tenants: read, record outcomes
inline constexpr const char* kViewer = "viewer";                 // own tenants: read
inline constexpr const char* kScanner = "scanner";               // a machine: POST scans for its tenant and scanner id

struct Principal {
  std::string issuer;
  std::string subject;             // "sub"
  std::set<std::string> roles;     // from the configured roles claim
  std::set<std::string> tenants;   // from the configured tenants claim
  std::string scanner_id;          // from the configured scanner claim; empty when absent
  int64_t expires_at_unix = 0;     // "exp"

  bool HasRole(const std::string& role) const { return roles.count(role) > 0; }
  // platform-admin acts for every tenant; everyone else for their own.
  bool ActsFor(const std::string& tenant) const { return HasRole(kPlatformAdmin) || tenants.count(tenant) > 0; }
};

}  // namespace ovoflow::auth
