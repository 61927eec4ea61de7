// The only translation unit that includes LibTorch. Every c10::Error and
// std::exception stops here and comes back as a Status.
#include "inference/gonad_net.h"

#include <torch/torch.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ovoflow::inference {
namespace {

constexpr int kMaxChannels = 4096;
constexpr int kMaxExtent = 4096;

torch::Tensor Crop(const torch::Tensor& x, const NetConfig& c) {
  if (c.crop == 0) return x;
  return x.narrow(2, c.crop, c.height - 2 * c.crop).narrow(3, c.crop, c.width - 2 * c.crop);
}

// Conv (3x3, padding 1, no bias) + batch norm per layer, then average
// pooling, flatten, fc1 + ReLU, fc2 -> one logit.
struct NetModuleImpl : torch::nn::Module {
  explicit NetModuleImpl(const NetConfig& c) : config(c) {
    int in = c.in_channels;
    int h = c.height - 2 * c.crop, w = c.width - 2 * c.crop;
    for (std::size_t i = 0; i < c.conv_channels.size(); ++i) {
      const int out = c.conv_channels[i];
      const int s = c.conv_strides[i];
      convs.push_back(
          register_module("conv" + std::to_string(i),
                          torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(s).padding(1).bias(false))));
      bns.push_back(register_module("bn" + std::to_string(i), torch::nn::BatchNorm2d(out)));
      in = out;
      h /= s;
      w /= s;
    }
    const int flat = in * (h / c.pool) * (w / c.pool);
    fc1 = register_module("fc1", torch::nn::Linear(flat, c.hidden));
    fc2 = register_module("fc2", torch::nn::Linear(c.hidden, 1));
  }

  torch::Tensor forward(torch::Tensor x) {
    x = Crop(x, config);
    for (std::size_t i = 0; i < convs.size(); ++i) x = torch::relu(bns[i]->forward(convs[i]->forward(x)));
    if (config.pool > 1) x = torch::avg_pool2d(x, config.pool);
    x = torch::relu(fc1->forward(x.flatten(1)));
    return fc2->forward(x).squeeze(1);
  }

  NetConfig config;
  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::BatchNorm2d> bns;
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(NetModule);

// Inference weights with batch norm folded into each convolution.
struct FoldedNet {
  std::vector<torch::Tensor> conv_weight, conv_bias;
  torch::Tensor fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};

FoldedNet Fold(NetModuleImpl& m) {
  FoldedNet f;
  for (std::size_t i = 0; i < m.convs.size(); ++i) {
    const auto& bn = m.bns[i];
    torch::Tensor inv_std = torch::rsqrt(bn->running_var + bn->options.eps());
    torch::Tensor gain = bn->weight * inv_std;
    f.conv_weight.push_back(
        (m.convs[i]->weight * gain.view({-1, 1, 1, 1})).contiguous(torch::MemoryFormat::ChannelsLast));
    f.conv_bias.push_back((bn->bias - bn->running_mean * gain).contiguous());
  }
  f.fc1_weight = m.fc1->weight.clone();
  f.fc1_bias = m.fc1->bias.clone();
  f.fc2_weight = m.fc2->weight.clone();
  f.fc2_bias = m.fc2->bias.clone();
  return f;
}

// Where the network runs: the GPU only in a build with OVOFLOW_TORCH_CUDA
// against a CUDA LibTorch, when a GPU is present and OVOFLOW_TORCH_DEVICE is
// not "cpu"; the CPU otherwise.
torch::Device ChooseDevice() {
#if defined(OVOFLOW_TORCH_CUDA)
  const char* forced = std::getenv("OVOFLOW_TORCH_DEVICE");
  if ((forced == nullptr || std::string(forced) != "cpu") && torch::cuda::is_available())
    return torch::Device(torch::kCUDA, 0);
#endif
  return torch::Device(torch::kCPU);
}

std::string What(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

}  // namespace

Status ValidateNetConfig(const NetConfig& c) {
  if (c.in_channels < 1 || c.in_channels > kMaxChannels) return Status::InvalidArgument("in_channels out of range");
  if (c.height < 1 || c.height > kMaxExtent || c.width < 1 || c.width > kMaxExtent)
    return Status::InvalidArgument("height/width out of range");
  if (c.crop < 0 || 2 * c.crop >= c.height || 2 * c.crop >= c.width)
    return Status::InvalidArgument("crop leaves nothing of the input");
  if (c.conv_channels.empty()) return Status::InvalidArgument("conv_channels is empty");
  if (c.conv_channels.size() != c.conv_strides.size())
    return Status::InvalidArgument("conv_channels and conv_strides differ in length");
  int h = c.height - 2 * c.crop, w = c.width - 2 * c.crop;
  for (std::size_t i = 0; i < c.conv_channels.size(); ++i) {
    const std::string layer = "conv layer " + std::to_string(i);
    if (c.conv_channels[i] < 1 || c.conv_channels[i] > kMaxChannels)
      return Status::InvalidArgument(layer + ": channels out of range");
    const int s = c.conv_strides[i];
    if (s != 1 && s != 2) return Status::InvalidArgument(layer + ": stride must be 1 or 2");
    if (h % s != 0 || w % s != 0)
      return Status::InvalidArgument(layer + ": stride " + std::to_string(s) + " does not divide " + std::to_string(w) +
                                     "x" + std::to_string(h));
    h /= s;
    w /= s;
  }
  if (c.pool < 1 || h % c.pool != 0 || w % c.pool != 0)
    return Status::InvalidArgument("pool " + std::to_string(c.pool) + " does not divide the last feature map " +
                                   std::to_string(w) + "x" + std::to_string(h));
  if (c.hidden < 1 || c.hidden > kMaxChannels) return Status::InvalidArgument("hidden out of range");
  return Status::Ok();
}

int64_t FlopsPerScan(const NetConfig& c) {
  int64_t flops = 0;
  int64_t in = c.in_channels, h = c.height - 2 * c.crop, w = c.width - 2 * c.crop;
  for (std::size_t i = 0; i < c.conv_channels.size(); ++i) {
    h /= c.conv_strides[i];
    w /= c.conv_strides[i];
    const int64_t out = c.conv_channels[i];
    flops += 2 * in * 9 * out * h * w;
    in = out;
  }
  const int64_t flat = in * (h / c.pool) * (w / c.pool);
  flops += 2 * flat * c.hidden + 2 * int64_t{c.hidden};
  return flops;
}

// LibTorch's matrix products go to the system BLAS, Debian's OpenBLAS
// (libopenblas0-pthread), which keeps a thread pool of its own sized by the
// core count and ignores at::set_num_threads. On 2 cores its threads
// spin-wait (sched_yield) after every small product: measured in `ovoflow
// infer` at 800 scans/s, the main thread and an OpenBLAS thread used 0.5-0.7
// cores each. So the BLAS gets the same thread count; looked up at run time,
// since which BLAS provides libblas.so.3 is the machine's choice.
void SetBlasThreads(int threads) {
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(threads);
}

void SetTorchThreads(int threads) {
  if (threads <= 0) return;
  at::set_num_threads(threads);
  SetBlasThreads(threads);
}

struct GonadNet::Impl {
  explicit Impl(const NetConfig& c) : config(c), net(c), device(ChooseDevice()) {}
  NetConfig config;
  NetModule net;
  torch::Device device;             // the net's parameters live here; inputs are copied to it
  std::optional<FoldedNet> folded;  // valid until the next training step
  std::unique_ptr<torch::optim::AdamW> optimizer;

  const FoldedNet& Folded() {
    if (!folded) {
      c10::InferenceMode guard;
      net->eval();
      folded = Fold(*net);
    }
    return *folded;
  }

  torch::Tensor Forward(const torch::Tensor& input) {
    const FoldedNet& f = Folded();
    // Channels-last (NHWC) lets oneDNN skip reorders: 1.5-2.5x faster here
    // (docs/model.md). Flatten sees the logical (C, H, W) order either way.
    torch::Tensor x = Crop(input, config).contiguous(torch::MemoryFormat::ChannelsLast);
    for (std::size_t i = 0; i < f.conv_weight.size(); ++i) {
      const int64_t s = config.conv_strides[i];
      x = torch::conv2d(x, f.conv_weight[i], f.conv_bias[i], {s, s}, {1, 1});
      x.relu_();
    }
    if (config.pool > 1) x = torch::avg_pool2d(x, config.pool);
    x = torch::linear(x.flatten(1), f.fc1_weight, f.fc1_bias);
    x.relu_();
    return torch::linear(x, f.fc2_weight, f.fc2_bias).squeeze(1);
  }
};

GonadNet::GonadNet() = default;
GonadNet::~GonadNet() = default;

Result<std::unique_ptr<GonadNet>> GonadNet::Create(const NetConfig& config, uint64_t seed) {
  OVOFLOW_RETURN_IF_ERROR(ValidateNetConfig(config));
  try {
    torch::manual_seed(seed);
    std::unique_ptr<GonadNet> n(new GonadNet());
    n->impl_ = std::make_unique<Impl>(config);
    n->impl_->net->to(n->impl_->device);
    return n;
  } catch (const std::exception& e) {
    return Status::Internal("creating the network: " + What(e));
  }
}

Result<std::unique_ptr<GonadNet>> GonadNet::Load(const NetConfig& config, const std::string& path) {
  OVOFLOW_RETURN_IF_ERROR(ValidateNetConfig(config));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::NotFound("no model weights at " + path);
  std::unique_ptr<GonadNet> n(new GonadNet());
  try {
    n->impl_ = std::make_unique<Impl>(config);
  } catch (const std::exception& e) {
    return Status::Internal("creating the network: " + What(e));
  }
  // torch::load replaces tensors whatever their shape: compare them after.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : n->impl_->net->named_parameters()) expected.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : n->impl_->net->named_buffers()) expected.emplace_back(b.key(), b.value().sizes().vec());
  try {
    torch::load(n->impl_->net, path, torch::kCPU);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("weights in " + path + " do not load for this net config: " + What(e));
  }
  std::size_t i = 0;
  for (const auto& p : n->impl_->net->named_parameters()) {
    if (p.value().sizes().vec() != expected[i++].second)
      return Status::InvalidArgument("weights in " + path + " do not match the net config: " + p.key() +
                                     " has another shape");
  }
  for (const auto& b : n->impl_->net->named_buffers()) {
    if (b.value().sizes().vec() != expected[i++].second)
      return Status::InvalidArgument("weights in " + path + " do not match the net config: " + b.key() +
                                     " has another shape");
  }
  try {
    n->impl_->net->to(n->impl_->device);
    n->impl_->Folded();
  } catch (const std::exception& e) {
    return Status::Internal("folding batch norm: " + What(e));
  }
  return n;
}

Status GonadNet::Save(const std::string& path) const {
  try {
    // Saved from the CPU so the archive loads on machines without a GPU.
    impl_->net->to(torch::kCPU);
    torch::save(impl_->net, path);
    impl_->net->to(impl_->device);
  } catch (const std::exception& e) {
    return Status::Internal("saving weights to " + path + ": " + What(e));
  }
  return Status::Ok();
}

Status GonadNet::Logits(const float* inputs, int64_t batch, float* logits) {
  if (batch < 0) return Status::InvalidArgument("negative batch");
  if (batch == 0) return Status::Ok();
  try {
    c10::InferenceMode guard;
    const NetConfig& c = impl_->config;
    torch::Tensor x =
        torch::from_blob(const_cast<float*>(inputs), {batch, c.in_channels, c.height, c.width}).to(impl_->device);
    torch::Tensor out = impl_->Forward(x).to(torch::kCPU).contiguous();
    std::memcpy(logits, out.data_ptr<float>(), static_cast<std::size_t>(batch) * sizeof(float));
  } catch (const std::exception& e) {
    return Status::Internal("forward pass: " + What(e));
  }
  return Status::Ok();
}

Status GonadNet::BeginTraining(double lr, double weight_decay) {
  try {
    impl_->optimizer = std::make_unique<torch::optim::AdamW>(impl_->net->parameters(),
                                                             torch::optim::AdamWOptions(lr).weight_decay(weight_decay));
  } catch (const std::exception& e) {
    return Status::Internal("creating the optimiser: " + What(e));
  }
  return Status::Ok();
}

void GonadNet::SetLearningRate(double lr) {
  if (!impl_->optimizer) return;
  for (auto& group : impl_->optimizer->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

Result<double> GonadNet::TrainStep(const float* inputs, const float* labels, int64_t batch) {
  if (!impl_->optimizer) return Status::FailedPrecondition("TrainStep before BeginTraining");
  if (batch < 2) return Status::InvalidArgument("a training batch needs at least 2 scans (batch norm)");
  try {
    const NetConfig& c = impl_->config;
    impl_->folded.reset();
    impl_->net->train();
    torch::Tensor x = torch::from_blob(const_cast<float*>(inputs), {batch, c.in_channels, c.height, c.width})
                          .to(impl_->device)
                          .contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor y = torch::from_blob(const_cast<float*>(labels), {batch}).to(impl_->device);
    impl_->optimizer->zero_grad();
    torch::Tensor loss = torch::binary_cross_entropy_with_logits(impl_->net->forward(x), y);
    loss.backward();
    impl_->optimizer->step();
    return loss.item<double>();
  } catch (const std::exception& e) {
    return Status::Internal("training step: " + What(e));
  }
}

int64_t GonadNet::ParameterCount() const {
  int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

const NetConfig& GonadNet::config() const { return impl_->config; }

std::string GonadNet::DeviceName() const { return impl_->device.str(); }

}  // namespace ovoflow::inference
