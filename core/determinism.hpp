// The process-wide "deterministic" setting: on (the default), two runs of the same
// work on the same device and the same number of threads give bitwise-identical
// results. What it selects:
//   - cuDNN convolution algorithms whose results are reproducible
//     (CUDNN_DETERMINISTIC: no atomics in the backward passes), kernels/conv2d_algo.hpp;
//   - (always, not switchable) reductions in a fixed order: the CPU loss sums in
//     fixed-size chunks, the CUDA reductions without floating-point atomics, the
//     SVM's index-ordered working set (svm/working_set.hpp).
// Off, the cuDNN search may also pick the faster non-deterministic algorithms.
// The environment variable MINIDL_DETERMINISTIC (0/1, off/on, false/true) sets the
// starting value; set_deterministic() changes it at run time (plans made under the
// other setting are not reused). README, "Reproducibility", says what is and is
// not bitwise equal across devices and thread counts.
#pragma once

namespace minidl {

/// The current setting (the environment's on first use, else true).
bool deterministic();
/// Changes the setting for work queued after the call.
void set_deterministic(bool on);

namespace detail {
/// MINIDL_DETERMINISTIC's value: null or empty gives `fallback`; 1/on/true/yes and
/// 0/off/false/no (any case) give true/false; anything else throws ValueError
/// naming the variable and the value.
bool parse_deterministic(const char* value, bool fallback);
}  // namespace detail

}  // namespace minidl
