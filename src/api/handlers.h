// The route handlers (see router.h for the calling convention). Each answers
// a Response, errors included as problem+json; none throws.
#pragma once

#include "api/router.h"

namespace ovoflow::api {

// Prediction resources (rest_handlers.cc), Lane::kQuery.
Response HandleGetEgg(const RequestContext& ctx);
Response HandleListEggs(const RequestContext& ctx);
Response HandleStats(const RequestContext& ctx);
// GET /v1/me (any role) and GET /v1/auth/config (public), Lane::kInline.
Response HandleMe(const RequestContext& ctx);
Response HandleAuthConfig(const RequestContext& ctx);

// POST /v1/scans (scan_handler.cc), Lane::kIngest.
Response HandlePostScan(const RequestContext& ctx);

// POST /v1/eggs/{egg_id}/outcome (outcome_handlers.cc), Lane::kIngest: a
// store write, kept off the query pool.
Response HandlePostOutcome(const RequestContext& ctx);

// Model lifecycle (model_handlers.cc): GET /v1/models on Lane::kQuery;
// POST /v1/models/{version}:activate and :deactivate on Lane::kIngest
// (they load a model and wait for the broker); platform-admin only.
Response HandleListModels(const RequestContext& ctx);
Response HandleActivateModel(const RequestContext& ctx);
Response HandleDeactivateModel(const RequestContext& ctx);

// GET /v1/live without an Upgrade header: 426.
Response HandleLiveWithoutUpgrade(const RequestContext& ctx);

// Operations (ops_handlers.cc), Lane::kInline.
Response HandleHealthz(const RequestContext& ctx);
Response HandleReadyz(const RequestContext& ctx);
Response HandleMetrics(const RequestContext& ctx);
Response HandleOpenApi(const RequestContext& ctx);

// Dashboard files from ApiOptions::web_root (static_files.cc), Lane::kInline.
Response HandleIndex(const RequestContext& ctx);
Response HandleAsset(const RequestContext& ctx);

}  // namespace ovoflow::api
