// Dense (fully connected): z = x W^T + b for a batch x [B, N_in], with
// W [N_out, N_in] (the course notes' z = W x + b per sample) and b [N_out].
// OpenBLAS SGEMM on the CPU, cuBLAS on the GPU; row-major without copies.
//   forward   z  = x W^T (+ b)
//   backward  dW += dz^T x,  db += dz^T 1,  dx = dz W
#pragma once

#include "init.hpp"
#include "layer.hpp"

namespace minidl {

struct DenseOptions {
  bool bias = true;
  Init init = Init::HeNormal;
  /// TF32 tensor-core GEMMs on the GPU (faster, ~1e-3 relative error).
  bool allow_tf32 = false;
};

class Dense : public Layer {
 public:
  explicit Dense(std::int64_t out_features, DenseOptions options = {});

  std::string type() const override { return "Dense"; }
  Shape build(const std::vector<Shape>& input_shapes, const std::vector<DType>& input_dtypes,
              const BuildContext& ctx) override;
  void forward(const std::vector<const Tensor*>& inputs, Tensor& output) override;
  void backward(const std::vector<const Tensor*>& inputs, const Tensor& output,
                const Tensor& d_output, const std::vector<Tensor*>& d_inputs) override;
  std::vector<Parameter*> parameters() override;
  void to(Device device) override;

  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }
  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }

 private:
  std::int64_t in_ = 0;
  std::int64_t out_;
  DenseOptions options_;
  Parameter weight_;
  Parameter bias_;
  Tensor ones_;  // [B] of 1: db = dz^T 1 as one GEMV
};

}  // namespace minidl
