#include "inference/model_control.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <utility>

#include "inference/model_registry.h"

namespace ovoflow::inference {

std::string RoleName(v1::ModelRole role) {
  switch (role) {
    case v1::MODEL_ROLE_ACTIVE:
      return "active";
    case v1::MODEL_ROLE_SHADOW:
      return "shadow";
    default:
      return "";
  }
}

Status ValidateActivation(const v1::ModelActivation& a) {
  if (a.role() != v1::MODEL_ROLE_ACTIVE && a.role() != v1::MODEL_ROLE_SHADOW)
    return Status::InvalidArgument("activation role must be ACTIVE or SHADOW");
  if (a.role() == v1::MODEL_ROLE_SHADOW && a.model_version().empty()) return Status::Ok();  // shadow off
  OVOFLOW_RETURN_IF_ERROR(ValidateRegistryName("model name", a.model_name()));
  return ValidateRegistryName("version", a.model_version());
}

Status PublishActivation(bus::Producer& producer, const v1::ModelActivation& activation, int timeout_ms,
                         const std::string& topic) {
  OVOFLOW_RETURN_IF_ERROR(ValidateActivation(activation));
  auto acked = std::make_shared<std::promise<Status>>();
  std::future<Status> done = acked->get_future();
  OVOFLOW_RETURN_IF_ERROR(producer.Send(topic, RoleName(activation.role()), activation.SerializeAsString(), {},
                                        [acked](const Status& st) { acked->set_value(st); }));
  if (done.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready)
    return Status::Unavailable("activation not acknowledged by the broker within " + std::to_string(timeout_ms) +
                               " ms");
  Status st = done.get();
  if (!st.ok()) return Status::Unavailable("activation not delivered: " + st.message());
  return st;
}

// An activation record is a few hundred bytes.
constexpr std::size_t kMaxActivationBytes = 64u << 10;

// Keeps the newest valid record of each role in a batch and hands it to the
// follower; with notify off (catching up), only the state is updated.
class ActivationFollower::ActivationStage final : public bus::Stage {
 public:
  explicit ActivationStage(ActivationFollower* follower) : follower_(follower) {}
  bool notify = false;

  Result<bus::BatchOutcome> Process(std::span<const bus::Message> batch) override {
    bus::BatchOutcome out;
    std::optional<v1::ModelActivation> newest[2];  // [0] active, [1] shadow
    for (std::size_t i = 0; i < batch.size(); ++i) {
      v1::ModelActivation a;
      if (auto bad = bus::ParseMessage(batch[i], i, kMaxActivationBytes, &a)) {
        out.rejections.push_back(std::move(*bad));
        continue;
      }
      if (Status valid = ValidateActivation(a); !valid.ok()) {
        out.rejections.push_back({i, "invalid", valid.message()});
        continue;
      }
      newest[a.role() == v1::MODEL_ROLE_ACTIVE ? 0 : 1] = std::move(a);
    }
    out.on_delivered.push_back([this, newest0 = newest[0], newest1 = newest[1]] {
      for (const auto* a : {&newest0, &newest1}) {
        if (!*a) continue;
        follower_->Observe(**a);
        if (notify && follower_->on_activation_) follower_->on_activation_(**a);
      }
    });
    return out;
  }

 private:
  ActivationFollower* follower_;
};

std::unique_ptr<ActivationFollower> ActivationFollower::Start(const FollowerOptions& options,
                                                              OnActivation on_activation) {
  std::unique_ptr<ActivationFollower> f(new ActivationFollower());
  f->options_ = options;
  f->on_activation_ = std::move(on_activation);
  f->stage_ = std::make_unique<ActivationStage>(f.get());
  if (f->Connect()) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.catch_up_timeout_ms);
    std::atomic<bool> no_stop{false};
    while (!f->reader_->caught_up() && std::chrono::steady_clock::now() < deadline) {
      if (!f->runtime_->RunOnce(no_stop).ok()) break;
    }
    if (!f->reader_->caught_up())
      spdlog::warn("models: {} not read to its end within {} ms; later records apply when they arrive", options.topic,
                   options.catch_up_timeout_ms);
  }
  // The latest record of each role, on the calling thread, before the
  // follower thread exists: later records cannot overtake them.
  ActivationState caught_up = f->state();
  if (f->on_activation_) {
    if (caught_up.active) f->on_activation_(*caught_up.active);
    if (caught_up.shadow) f->on_activation_(*caught_up.shadow);
  }
  f->stage_->notify = true;
  f->thread_ = std::thread([p = f.get()] { p->Loop(); });
  return f;
}

ActivationFollower::~ActivationFollower() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

ActivationState ActivationFollower::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void ActivationFollower::Observe(const v1::ModelActivation& a) {
  std::lock_guard lock(mu_);
  (a.role() == v1::MODEL_ROLE_ACTIVE ? state_.active : state_.shadow) = a;
}

bool ActivationFollower::Connect() {
  bus::TopicReaderOptions ro;
  ro.brokers = options_.brokers;
  ro.topic = options_.topic;
  ro.client_id = options_.client_id;
  ro.metadata_timeout_ms = std::min(options_.catch_up_timeout_ms, 10000);
  auto r = bus::TopicReader::Create(ro);
  if (!r.ok()) {
    if (!std::exchange(warned_missing_, true))
      spdlog::warn("models: cannot follow {} yet: {} (retrying every {} ms; create it with `ovoflow topics`)",
                   options_.topic, r.status().ToString(), options_.retry_ms);
    return false;
  }
  reader_ = r->get();
  bus::StageRuntimeOptions so;
  so.stage = "models";
  so.instance = options_.client_id;
  so.delivery = bus::Delivery::kObserve;
  so.max_batch = 64;
  so.max_wait_ms = 0;
  so.poll_timeout_ms = 200;
  auto runtime = bus::StageRuntime::Create(so, std::move(r).value(), {}, stage_.get());
  if (!runtime.ok()) {  // options are fixed above: a broken invariant
    Fatal("models: " + runtime.status().ToString());
  }
  runtime_ = std::move(runtime).value();
  return true;
}

void ActivationFollower::Loop() {
  while (!stop_.load()) {
    if (!runtime_ && !Connect()) {
      for (int waited = 0; waited < options_.retry_ms && !stop_.load(); waited += 100)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    Result<int> n = runtime_->RunOnce(stop_);
    if (!n.ok()) spdlog::warn("models: {}", n.status().ToString());
  }
}

}  // namespace ovoflow::inference
