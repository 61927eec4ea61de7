// Keeps openapi.yaml true: every route, method and query parameter of the
// server appears in the document, and the document lists nothing else.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "api/client/http_client.h"
#include "api/openapi.h"
#include "api/routes.h"
#include "api/testing/api_fixture.h"

namespace ovoflow::api {
namespace {

using Operations = std::map<std::string, std::set<std::string>>;  // "GET /v1/eggs" -> query params
// "GET /v1/eggs" -> "public", or the roles of x-ovoflow-roles joined by ','.
using Security = std::map<std::string, std::string>;

std::size_t Indent(const std::string& line) { return line.find_first_not_of(' '); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  std::size_t start = s.find_first_not_of(' ');
  return start == std::string::npos ? "" : s.substr(start);
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// An indentation walk of `paths:`: path keys at 2 spaces, methods at 4, and
// within an operation every "- name: x" whose next line is "in: query".
Operations ParsePaths(std::string_view yaml, Security* security = nullptr) {
  std::istringstream in{std::string(yaml)};
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  Operations ops;
  bool in_paths = false;
  std::string path, op;
  static const std::set<std::string> kMethods = {"get", "post", "put", "patch", "delete", "head", "options"};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::size_t indent = Indent(line);
    if (indent == 0) {
      in_paths = t == "paths:";
      continue;
    }
    if (!in_paths) continue;
    if (indent == 2 && t.back() == ':') {
      path = t.substr(0, t.size() - 1);
      if (path.size() > 1 && path.front() == '"') path = path.substr(1, path.size() - 2);
      op.clear();
    } else if (indent == 4 && t.back() == ':' && kMethods.count(t.substr(0, t.size() - 1))) {
      op = Upper(t.substr(0, t.size() - 1)) + " " + path;
      ops[op];
    } else if (!op.empty() && t.rfind("- name: ", 0) == 0 && i + 1 < lines.size() &&
               Trim(lines[i + 1]) == "in: query") {
      ops[op].insert(Trim(t.substr(8)));
    } else if (!op.empty() && security && indent == 6 && t == "security: []") {
      (*security)[op] = "public";
    } else if (!op.empty() && security && indent == 6 && t.rfind("x-ovoflow-roles: [", 0) == 0 && t.back() == ']') {
      std::string list = t.substr(18, t.size() - 19), joined;
      std::stringstream items(list);
      for (std::string role; std::getline(items, role, ',');) joined += (joined.empty() ? "" : ",") + Trim(role);
      (*security)[op] = joined;
    }
  }
  return ops;
}

std::string Declared(const Access& a) {
  if (a.kind == Access::Kind::kPublic) return "public";
  if (a.kind == Access::Kind::kUndeclared) return "undeclared";
  std::string joined;
  for (const auto& r : a.roles) joined += (joined.empty() ? "" : ",") + r;
  return joined;
}

// Every route says who may call it, and the document says the same: public
// operations have "security: []", the others the bearer scheme and the
// route table's roles in x-ovoflow-roles (same order).
TEST(OpenApiTest, EveryRouteDeclaresItsAccessAndTheDocumentStatesIt) {
  Security documented;
  ParsePaths(OpenApiYaml(), &documented);
  for (const auto& r : Routes()) {
    const std::string op = r.method + " " + r.path;
    EXPECT_NE(r.access.kind, Access::Kind::kUndeclared) << op << " declares no access in the route table";
    if (r.access.kind == Access::Kind::kAnyRole) {
      EXPECT_FALSE(r.access.roles.empty()) << op;
    }
    auto it = documented.find(op);
    ASSERT_NE(it, documented.end()) << op << ": openapi.yaml states no security (security: [] or x-ovoflow-roles)";
    EXPECT_EQ(it->second, Declared(r.access)) << op;
  }
  // Only the probes, the document, the dashboard's files and its sign-in
  // settings are public: nothing that holds a tenant's data.
  std::set<std::string> open;
  for (const auto& r : Routes())
    if (r.access.is_public()) open.insert(r.method + " " + r.path);
  EXPECT_EQ(open, (std::set<std::string>{"GET /healthz", "GET /readyz", "GET /openapi.yaml", "GET /", "GET /{asset}",
                                         "GET /v1/auth/config"}));
}

TEST(OpenApiTest, DocumentMatchesTheRouteTable) {
  Operations documented = ParsePaths(OpenApiYaml());
  Operations served;
  for (const auto& r : Routes())
    served[r.method + " " + r.path] = std::set<std::string>(r.query_params.begin(), r.query_params.end());
  ASSERT_FALSE(documented.empty()) << "no paths found in openapi.yaml";
  for (const auto& [op, params] : served) {
    auto it = documented.find(op);
    ASSERT_NE(it, documented.end()) << op << " is served but not in openapi.yaml";
    EXPECT_EQ(it->second, params) << "query parameters of " << op;
  }
  for (const auto& [op, params] : documented)
    EXPECT_TRUE(served.count(op)) << op << " is in openapi.yaml but the server has no such route";
}

TEST(OpenApiTest, DocumentIsOpenApi31AndDescribesTheProblemType) {
  std::string_view yaml = OpenApiYaml();
  EXPECT_EQ(yaml.substr(0, 14), "openapi: 3.1.0");
  EXPECT_NE(yaml.find("application/problem+json"), std::string_view::npos);
  EXPECT_NE(yaml.find("Problem:"), std::string_view::npos);
  EXPECT_NE(yaml.find("Prediction:"), std::string_view::npos);
  EXPECT_NE(yaml.find("Stats:"), std::string_view::npos);
}

TEST(OpenApiTest, ServedFromTheBinary) {
  auto h = testing::ApiHarness::Start();
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto r = testing::Fetch((*h)->port(), "GET", "/openapi.yaml");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.ContentType(), "application/yaml");
  EXPECT_EQ(r.body, std::string(OpenApiYaml()));
}

}  // namespace
}  // namespace ovoflow::api
