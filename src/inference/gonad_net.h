// The sexing CNN ("gonad-cnn"), with LibTorch hidden behind this header.
//
// 2.5D design for CPU throughput: the depth slices of the volume are the
// input channels of 2D convolutions (LibTorch's CPU 3D convolutions run
// about 10x slower per FLOP). The input is cropped by `crop` voxels on each
// side of y and x (the gonads never come near the border), then each entry
// of conv_channels is a 3x3 conv + batch norm + ReLU (stride conv_strides[i],
// padding 1), average pooling by `pool`, a hidden fully connected layer with
// ReLU and one output logit (log-odds of female). Flattening (not global
// pooling) keeps where things are: which side, left or right, holds the
// larger gonad. docs/model.md explains the choices and the measurements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace ovoflow::inference {

struct NetConfig {
  int in_channels = 16;  // dim_z * volume channels, stacked as 2D channels
  int height = 32;       // dim_y, voxels
  int width = 32;        // dim_x, voxels
  int crop = 4;          // voxels cut from each side of height and width before the first conv
  std::vector<int> conv_channels = {32, 32, 32, 32};
  std::vector<int> conv_strides = {1, 2, 2, 1};  // each 1 or 2, dividing the feature map
  int pool = 1;                                  // average pooling window and stride after the last conv (1 = none)
  int hidden = 64;                               // units of the hidden fully connected layer
};

// InvalidArgument when the layers do not fit together (e.g. the strides and
// pool do not divide the input size).
Status ValidateNetConfig(const NetConfig& config);
// Multiply-adds x 2 of one scan's forward pass (convolutions and fully
// connected layers; batch norm, ReLU and pooling not counted).
int64_t FlopsPerScan(const NetConfig& config);

// Sets LibTorch's intra-op threads for the calling thread (OpenMP is per
// thread); threads <= 0 leaves the setting alone.
void SetTorchThreads(int threads);

// Not thread-safe: one thread uses an instance at a time.
class GonadNet {
 public:
  ~GonadNet();
  // Fresh weights drawn from LibTorch's generator after torch::manual_seed(seed).
  static Result<std::unique_ptr<GonadNet>> Create(const NetConfig& config, uint64_t seed);
  // Weights saved by Save() for the same config. For inference: batch norm
  // is folded into the convolutions. NotFound / InvalidArgument / Internal.
  static Result<std::unique_ptr<GonadNet>> Load(const NetConfig& config, const std::string& path);
  // Writes the weights (torch::save archive) to `path`.
  Status Save(const std::string& path) const;

  // Logits (log-odds of female) of `batch` inputs, each in_channels * height
  // * width normalised floats (layout c, y, x), into logits[0..batch).
  Status Logits(const float* inputs, int64_t batch, float* logits);

  // Training: Adam with decoupled weight decay (AdamW) starting at `lr`.
  Status BeginTraining(double lr, double weight_decay);
  void SetLearningRate(double lr);
  // One optimiser step on binary cross-entropy with `labels` (1 = female);
  // returns the mean loss of the batch.
  Result<double> TrainStep(const float* inputs, const float* labels, int64_t batch);

  int64_t ParameterCount() const;
  const NetConfig& config() const;
  // "cpu", or "cuda:0" in an OVOFLOW_TORCH_CUDA build that found a GPU.
  std::string DeviceName() const;

 private:
  GonadNet();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovoflow::inference
