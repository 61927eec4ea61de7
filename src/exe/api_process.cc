#include "exe/api_process.h"

#include <spdlog/spdlog.h>

namespace ovoflow::exe {

std::unique_ptr<ApiProcess> ApiProcess::Start(const std::string& brokers, const api::ApiOptions& options,
                                              const OidcFlags& oidc, store::PredictionStore* store,
                                              const std::string& registry_dir, std::function<bool()> ready) {
  std::unique_ptr<ApiProcess> p(new ApiProcess());
  if (!oidc.issuers.empty()) {
    p->keys_ = std::make_unique<auth::OidcKeySource>(oidc.issuers, auth::OidcKeyOptions{});
    // Keys are fetched again on first use when the provider is not up yet.
    if (Status st = p->keys_->Prefetch(); !st.ok())
      spdlog::warn("api: the identity provider's keys are not available yet: {}", st.ToString());
    auth::VerifierOptions vo;
    vo.issuers = oidc.issuers;
    vo.audience = oidc.audience;
    vo.claims = oidc.claims;
    auto verifier = auth::JwtVerifier::Create(vo, p->keys_.get());
    if (!verifier.ok()) Fatal(verifier.status().ToString());
    p->verifier_ = std::move(verifier).value();
  }
  bus::ProducerOptions po;
  po.brokers = brokers;
  po.client_id = "ovoflow-api";
  auto producer = bus::Producer::Create(po);
  if (!producer.ok()) Fatal(producer.status().ToString());
  p->producer_ = std::move(producer).value();
  p->sink_ = std::make_unique<KafkaScanSink>(p->producer_.get(), oidc.scan_topic_per_tenant);
  inference::ModelAdminOptions mo;
  mo.brokers = brokers;
  mo.registry_dir = registry_dir;
  auto models = inference::ModelAdminService::Create(mo);
  if (!models.ok()) Fatal(models.status().ToString());
  p->models_ = std::move(models).value();
  api::ApiDeps deps;
  deps.store = store;
  deps.scans = p->sink_.get();
  deps.models = p->models_.get();
  deps.ready = std::move(ready);
  deps.verifier = p->verifier_.get();
  auto server = api::ApiServer::Start(options, deps);
  if (!server.ok()) Fatal(server.status().ToString() + " (choose another --port)");
  p->server_ = std::move(server).value();
  api::ApiServer* srv = p->server_.get();
  p->reload_ = std::make_unique<ReloadOnSighup>([srv] { (void)srv->ReloadTls(); });  // logs and counts the result
  return p;
}

ApiProcess::~ApiProcess() { Stop(); }

void ApiProcess::Stop() {
  if (std::exchange(stopped_, true)) return;
  reload_.reset();
  server_->Stop();
  Status flushed = producer_->Flush(10000);
  if (!flushed.ok()) spdlog::warn("api producer: {}", flushed.ToString());
}

}  // namespace ovoflow::exe
