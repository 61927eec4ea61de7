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
inline constexpr const char* kMonitoring = "monitoring";         // a scraper: GET /metrics

struct Principal {
  std::string issuer;
  std::string subject;            // "sub"
  std::set<std::string> roles;    // from the configured roles claim
  std::set<std::string> tenants;  // from the configured tenants claim
  std::string scanner_id;         // from the configured scanner claim; empty when absent
  int64_t expires_at_unix = 0;    // "exp"; 0: never (only the local development principal)
  // The API runs without identity (--no-auth, loopback only): this caller
  // may do everything, as one local developer.
  bool local_development = false;

  bool HasRole(const std::string& role) const { return local_development || roles.count(role) > 0; }
  // Every tenant: platform-admin, or the local development principal.
  bool AllTenants() const { return local_development || roles.count(kPlatformAdmin) > 0; }
  // platform-admin acts for every tenant; everyone else for their own.
  bool ActsFor(const std::string& tenant) const { return AllTenants() || tenants.count(tenant) > 0; }
};

}  // namespace ovoflow::auth
