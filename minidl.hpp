// minidl: everything a user needs, in one include.
//
// One convention for the outputs of the public ops (kernels/, svm::kernel_matrix):
// an output `Tensor& out` that the op overwrites and whose shape follows from the
// operands may be passed undefined (Tensor()) and is then allocated on the
// operands' device; a defined one must have exactly the right shape, dtype and
// device (ShapeError / DTypeError / DeviceError otherwise) and is written in
// place. Outputs that are accumulated into (axpy's y, gemm / gemv with beta != 0,
// the `accumulate` gradients) or whose shape the caller chooses (fill,
// copy_from_columns' dst, conv2d_backward_filter's dw) must exist. Each header
// states which of the two an output is.
#pragma once

#include "core/context.hpp"
#include "core/cuda_arch.hpp"
#include "core/determinism.hpp"
#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/info.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/storage.hpp"
#include "core/tensor.hpp"
#include "data/fashion_mnist.hpp"
#include "data/idx.hpp"
#include "data/loader.hpp"
#include "dist/collectives.hpp"
#include "dist/data_parallel.hpp"
#include "dist/process.hpp"
#include "io/atomic_file.hpp"
#include "io/checkpoint.hpp"
#include "io/onnx_export.hpp"
#include "io/safetensors.hpp"
#include "kernels/activation.hpp"
#include "kernels/arith.hpp"
#include "kernels/batchnorm.hpp"
#include "kernels/columns.hpp"
#include "kernels/conv2d.hpp"
#include "kernels/fill.hpp"
#include "kernels/loss.hpp"
#include "kernels/pool2d.hpp"
#include "kernels/reduce.hpp"
#include "kernels/softmax.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/graph.hpp"
#include "layers/init.hpp"
#include "layers/jacobian.hpp"
#include "layers/loss.hpp"
#include "layers/pool.hpp"
#include "layers/sequential.hpp"
#include "layers/structural.hpp"
#include "optim/adam.hpp"
#include "optim/clip.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
#include "svm/kernel_function.hpp"
#include "svm/libsvm_format.hpp"
#include "svm/model_file.hpp"
#include "svm/cross_validation.hpp"
#include "svm/primal.hpp"
#include "svm/probability.hpp"
#include "svm/svc.hpp"
#include "training/trainer.hpp"
