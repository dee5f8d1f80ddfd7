// conv2d's oneDNN backend on the CPU (backend `onednn`; built when CMake finds oneDNN,
// Debian's libdnnl-dev, MINIDL_WITH_ONEDNN): forward (bias fused into the primitive),
// backward data and backward weights through oneDNN's convolution primitives, the same
// library PyTorch's CPU convolutions call.
//
// Plans: one per (geometry, pass, bias, fused ReLU, thread count), made on first use and kept in a
// cache of the calling thread (thread_local: no locks, and a plan's buffers are never
// shared by two threads). A plan holds the primitive, its scratchpad (user-managed) and,
// for each operand whose layout oneDNN chose differently from minidl's plain NCHW / OIHW
// (format_tag::any lets it pick its blocked layouts: nChw8c on AVX2, nChw16c on AVX-512), a
// buffer in that layout and the reorder primitive to or from the caller's tensor. Nothing is
// created per call: a call sets the data handles, runs the reorders the plan names, the
// primitive, and the reorders back. Operands already in the primitive's layout are used
// in place.
//
// Activations the caller holds in NCHW8c or NCHW16c (Conv2dParams::x_layout / y_layout,
// kernels/layout.hpp: the layer graph keeps the values between oneDNN convolutions and
// pooling layers so) are given to the primitive in that layout rather than as format `any`:
// x, y, dy and dx are then read and written in place, and only the small weight tensors
// are reordered per call.
//
// A fused ReLU is an eltwise_relu post-op of the forward primitive: applied to each output
// block while it is still in registers / cache, instead of a second pass over y.
//
// Accumulation (backward weights with beta != 0) goes through the plan's buffer:
// dw = beta dw + result, in one pass after the primitive.
//
// Results equal the `cpu` backend's within float rounding (a different order of the
// multiply-adds), checked by tests/kernels/conv2d_onednn_test.cpp against it on
// several shapes. oneDNN's CPU primitives are run-to-run reproducible at a fixed thread
// count (its documentation), so determinism holds as for the other CPU paths.
#include <omp.h>

#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "../core/error.hpp"
#include "conv2d.hpp"
#include "conv2d_cpu.hpp"

#if MINIDL_WITH_ONEDNN
#include <dnnl.hpp>
#endif

namespace minidl::cpu {

#if MINIDL_WITH_ONEDNN

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

enum class Pass { Forward, Data, Filter };

struct PlanKey {
  std::int64_t v[18] = {};
  bool operator==(const PlanKey& o) const { return std::memcmp(v, o.v, sizeof(v)) == 0; }
};

struct PlanKeyHash {
  std::size_t operator()(const PlanKey& k) const {
    std::size_t h = 1469598103934665603ull;
    for (std::int64_t x : k.v) h = (h ^ static_cast<std::size_t>(x)) * 1099511628211ull;
    return h;
  }
};

// The operands' layouts (kernels/layout.hpp).
struct Layouts {
  Layout x = Layout::NCHW;  // x and dx
  Layout y = Layout::NCHW;  // y and dy
};

PlanKey make_key(const Conv2dGeometry& g, Pass pass, bool bias, bool relu, Layouts layouts) {
  PlanKey k;
  const std::int64_t vals[18] = {g.batch,      g.in_channels, g.height,     g.width,
                                 g.out_channels, g.kernel_h,  g.kernel_w,   g.stride_h,
                                 g.stride_w,   g.pad_top,     g.pad_left,   g.pad_bottom,
                                 g.pad_right,  static_cast<std::int64_t>(pass),
                                 (bias ? 1 : 0) | (relu ? 2 : 0), omp_get_max_threads(),
                                 static_cast<std::int64_t>(layouts.x),
                                 static_cast<std::int64_t>(layouts.y)};
  std::memcpy(k.v, vals, sizeof(vals));
  return k;
}

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One operand of a plan: the caller's plain memory and, when the primitive wants another
// layout, the plan's buffer in that layout and the reorder between them.
struct Operand {
  int arg = 0;           // DNNL_ARG_*
  bool output = false;   // written by the primitive (reordered back after it)
  memory user;           // plain layout, handle set per call
  memory inner;          // the primitive's layout (== user when no reorder is needed)
  dnnl::reorder reorder; // user -> inner (input) or inner -> user (output)
  bool reordered = false;
};

struct Plan {
  dnnl::primitive primitive;
  std::vector<Operand> operands;
  memory scratchpad;
  std::vector<float> accumulate;  // backward weights with beta != 0: the result, plain
  std::string impl;               // oneDNN's implementation name (e.g. "jit:avx2")
};

void add_operand(Plan& plan, int arg, bool output, const memory::desc& plain,
                 const memory::desc& wanted) {
  Operand op;
  op.arg = arg;
  op.output = output;
  dnnl::engine& engine = cpu_engine();
  op.user = memory(plain, engine, DNNL_MEMORY_NONE);
  if (wanted == plain) {
    op.inner = op.user;
  } else {
    op.inner = memory(wanted, engine);
    op.reorder = output ? dnnl::reorder(op.inner, op.user) : dnnl::reorder(op.user, op.inner);
    op.reordered = true;
  }
  plan.operands.push_back(std::move(op));
}

memory::dims dims4(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return {a, b, c, d};
}

struct Descs {
  memory::desc x, w, b, y;          // plain
  memory::desc x_any, w_any, y_any;  // oneDNN's choice
  memory::dims strides, pad_l, pad_r;
};

Tag tag_of(Layout layout) {
  switch (layout) {
    case Layout::NCHW8c:
      return Tag::nChw8c;
    case Layout::NCHW16c:
      return Tag::nChw16c;
    case Layout::NCHW:
      break;
  }
  return Tag::nchw;
}

// The caller's descriptors (x, y in their layouts) and the ones the primitives are asked
// for: oneDNN's choice (format any) for an operand in NCHW, which a reorder then bridges,
// and the caller's own layout for a blocked operand, which the primitive reads or writes in
// place (unless `in_place` is false: then format any for every operand).
Descs descs(const Conv2dGeometry& g, Layouts layouts, bool in_place) {
  const auto f32 = memory::data_type::f32;
  Descs d;
  const memory::dims xd = dims4(g.batch, g.in_channels, g.height, g.width);
  const memory::dims wd = dims4(g.out_channels, g.in_channels, g.kernel_h, g.kernel_w);
  const memory::dims yd = dims4(g.batch, g.out_channels, g.out_h, g.out_w);
  d.x = memory::desc(xd, f32, tag_of(layouts.x));
  d.w = memory::desc(wd, f32, Tag::oihw);
  d.b = memory::desc({g.out_channels}, f32, Tag::x);
  d.y = memory::desc(yd, f32, tag_of(layouts.y));
  d.x_any = layouts.x == Layout::NCHW || !in_place ? memory::desc(xd, f32, Tag::any) : d.x;
  d.w_any = memory::desc(wd, f32, Tag::any);
  d.y_any = layouts.y == Layout::NCHW || !in_place ? memory::desc(yd, f32, Tag::any) : d.y;
  d.strides = {g.stride_h, g.stride_w};
  d.pad_l = {g.pad_top, g.pad_left};
  d.pad_r = {g.pad_bottom, g.pad_right};
  return d;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The forward primitive descriptor (backward passes take it as their hint), with the ReLU
// post-op when `relu`.
dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d, bool bias, bool relu) {
  const auto algo = dnnl::algorithm::convolution_direct;
  const auto prop = dnnl::prop_kind::forward_training;
  const dnnl::convolution_forward::desc desc =
      bias ? dnnl::convolution_forward::desc(prop, algo, d.x_any, d.w_any, d.b, d.y_any, d.strides,
                                             d.pad_l, d.pad_r)
           : dnnl::convolution_forward::desc(prop, algo, d.x_any, d.w_any, d.y_any, d.strides,
                                             d.pad_l, d.pad_r);
  dnnl::primitive_attr attr = user_scratchpad();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(desc, attr, cpu_engine());
}

std::unique_ptr<Plan> make_plan(const Conv2dGeometry& g, Pass pass, bool bias, bool relu,
                                Layouts layouts, bool in_place) {
  auto plan = std::make_unique<Plan>();
  const Descs d = descs(g, layouts, in_place);
  const auto algo = dnnl::algorithm::convolution_direct;
  const auto fwd = forward_pd(d, bias, relu && pass == Pass::Forward);
  memory::desc scratch;
  switch (pass) {
    case Pass::Forward: {
      plan->primitive = dnnl::convolution_forward(fwd);
      add_operand(*plan, DNNL_ARG_SRC, false, d.x, fwd.src_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, d.w, fwd.weights_desc());
      if (bias) add_operand(*plan, DNNL_ARG_BIAS, false, d.b, fwd.bias_desc());
      add_operand(*plan, DNNL_ARG_DST, true, d.y, fwd.dst_desc());
      scratch = fwd.scratchpad_desc();
      plan->impl = fwd.impl_info_str();
      break;
    }
    case Pass::Data: {
      const dnnl::convolution_backward_data::desc desc(algo, d.x_any, d.w_any, d.y_any, d.strides,
                                                       d.pad_l, d.pad_r);
      const dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(),
                                                               cpu_engine(), fwd);
      plan->primitive = dnnl::convolution_backward_data(pd);
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, d.y, pd.diff_dst_desc());
      add_operand(*plan, DNNL_ARG_WEIGHTS, false, d.w, pd.weights_desc());
      add_operand(*plan, DNNL_ARG_DIFF_SRC, true, d.x, pd.diff_src_desc());
      scratch = pd.scratchpad_desc();
      plan->impl = pd.impl_info_str();
      break;
    }
    case Pass::Filter: {
      const dnnl::convolution_backward_weights::desc desc(algo, d.x_any, d.w_any, d.y_any,
                                                          d.strides, d.pad_l, d.pad_r);
      const dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(),
                                                                  cpu_engine(), fwd);
      plan->primitive = dnnl::convolution_backward_weights(pd);
      add_operand(*plan, DNNL_ARG_SRC, false, d.x, pd.src_desc());
      add_operand(*plan, DNNL_ARG_DIFF_DST, false, d.y, pd.diff_dst_desc());
      add_operand(*plan, DNNL_ARG_DIFF_WEIGHTS, true, d.w, pd.diff_weights_desc());
      scratch = pd.scratchpad_desc();
      plan->impl = pd.impl_info_str();
      break;
    }
  }
  plan->scratchpad = memory(scratch, cpu_engine());
  return plan;
}

// The plan on the caller's blocked operands in place, unless oneDNN has only its reference
// implementation for them: x and y in two different blocked layouts (nChw16c in, nChw8c
// out: `ref:any`, 5.6 s a call for the CNN's conv2 shape against 5 ms, measured), or a block
// this CPU's kernels do not compute in (nChw16c on AVX2). Then oneDNN picks the layouts and
// the plan reorders, as for NCHW operands.
std::unique_ptr<Plan> make_plan(const Conv2dGeometry& g, Pass pass, bool bias, bool relu,
                                Layouts layouts) {
  std::unique_ptr<Plan> plan = make_plan(g, pass, bias, relu, layouts, true);
  const auto is_ref = [](const Plan& p) { return p.impl.compare(0, 3, "ref") == 0; };
  if ((layouts.x != Layout::NCHW || layouts.y != Layout::NCHW) && is_ref(*plan)) {
    std::unique_ptr<Plan> bridged = make_plan(g, pass, bias, relu, layouts, false);
    if (!is_ref(*bridged)) return bridged;
  }
  return plan;
}

// The calling thread's plans and stream.
struct ThreadCache {
  dnnl::stream stream{cpu_engine()};
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;
};

// Plans per thread before the cache starts over (a training run uses a handful: each
// layer's three passes, and the last partial batch's).
constexpr std::size_t kMaxPlans = 64;

Plan& plan_for(ThreadCache& cache, const Conv2dGeometry& g, Pass pass, bool bias, bool relu,
               Layouts layouts) {
  const PlanKey key = make_key(g, pass, bias, relu, layouts);
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return *it->second;
  if (cache.plans.size() >= kMaxPlans) cache.plans.clear();
  return *cache.plans.emplace(key, make_plan(g, pass, bias, relu, layouts)).first->second;
}

ThreadCache& thread_cache() {
  thread_local ThreadCache cache;
  return cache;
}

// Runs `plan` on the caller's buffers, in the order of its operands.
void execute(Plan& plan, dnnl::stream& stream, const std::vector<void*>& buffers) {
  std::unordered_map<int, memory> args;
  for (std::size_t i = 0; i < plan.operands.size(); ++i) {
    Operand& op = plan.operands[i];
    op.user.set_data_handle(buffers[i]);
    if (op.reordered && !op.output) op.reorder.execute(stream, op.user, op.inner);
    args.emplace(op.arg, op.inner);
  }
  args.emplace(DNNL_ARG_SCRATCHPAD, plan.scratchpad);
  plan.primitive.execute(stream, args);
  for (Operand& op : plan.operands) {
    if (op.reordered && op.output) op.reorder.execute(stream, op.inner, op.user);
  }
  stream.wait();
}

template <class F>
void guarded(const char* pass, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    throw Error(detail::concat("conv2d (oneDNN) ", pass, ": ", e.what(), " (status ",
                               static_cast<int>(e.status), ")"));
  }
}

}  // namespace

bool onednn_available() { return true; }

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return detail::concat(v->major, ".", v->minor, ".", v->patch);
}

Layout onednn_blocked_layout() {
  // oneDNN's ISA values nest (each later ISA's bits include the earlier ones').
  static const Layout layout = [] {
    const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const unsigned avx512_core = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & avx512_core) == avx512_core ? Layout::NCHW16c : Layout::NCHW8c;
  }();
  return layout;
}

std::string conv2d_onednn_impl(const Conv2dGeometry& g, int pass, Layout x_layout,
                               Layout y_layout) {
  std::string impl;
  guarded("plan", [&] {
    impl =
        plan_for(thread_cache(), g, static_cast<Pass>(pass), pass == 0, false, {x_layout, y_layout})
            .impl;
  });
  return impl;
}

void conv2d_forward_onednn(const Conv2dGeometry& g, const float* x, const float* w, const float* b,
                           float* y, bool relu, Layout x_layout, Layout y_layout) {
  if (g.batch == 0) return;  // nothing to write (oneDNN is not asked about empty tensors)
  guarded("forward", [&] {
    ThreadCache& cache = thread_cache();
    Plan& plan = plan_for(cache, g, Pass::Forward, b != nullptr, relu, {x_layout, y_layout});
    std::vector<void*> buffers{const_cast<float*>(x), const_cast<float*>(w)};
    if (b != nullptr) buffers.push_back(const_cast<float*>(b));
    buffers.push_back(y);
    execute(plan, cache.stream, buffers);
  });
}

void conv2d_backward_data_onednn(const Conv2dGeometry& g, const float* dy, const float* w,
                                 float* dx, Layout x_layout, Layout y_layout) {
  if (g.batch == 0) return;
  guarded("backward data", [&] {
    ThreadCache& cache = thread_cache();
    Plan& plan = plan_for(cache, g, Pass::Data, false, false, {x_layout, y_layout});
    execute(plan, cache.stream, {const_cast<float*>(dy), const_cast<float*>(w), dx});
  });
}

void conv2d_backward_filter_onednn(const Conv2dGeometry& g, const float* x, const float* dy,
                                   float* dw, float beta, Layout x_layout, Layout y_layout) {
  const std::int64_t n = g.out_channels * g.in_channels * g.kernel_h * g.kernel_w;
  if (g.batch == 0) {  // an empty sum
    for (std::int64_t i = 0; i < n; ++i) dw[i] = beta == 0.0f ? 0.0f : beta * dw[i];
    return;
  }
  guarded("backward weights", [&] {
    ThreadCache& cache = thread_cache();
    Plan& plan = plan_for(cache, g, Pass::Filter, false, false, {x_layout, y_layout});
    if (beta == 0.0f) {
      execute(plan, cache.stream, {const_cast<float*>(x), const_cast<float*>(dy), dw});
      return;
    }
    plan.accumulate.resize(static_cast<std::size_t>(n));
    execute(plan, cache.stream,
            {const_cast<float*>(x), const_cast<float*>(dy), plan.accumulate.data()});
    const float* r = plan.accumulate.data();
    for (std::int64_t i = 0; i < n; ++i) dw[i] = beta * dw[i] + r[i];
  });
}

#else  // built without oneDNN: the public op refuses backend `onednn` before calling these

bool onednn_available() { return false; }
std::string onednn_version() { return ""; }
Layout onednn_blocked_layout() { return Layout::NCHW8c; }

namespace {
[[noreturn]] void no_onednn() {
  throw ValueError("conv2d: backend 'onednn': this minidl was built without oneDNN "
                   "(install libdnnl-dev and reconfigure)");
}
}  // namespace

std::string conv2d_onednn_impl(const Conv2dGeometry&, int, Layout, Layout) { no_onednn(); }
void conv2d_forward_onednn(const Conv2dGeometry&, const float*, const float*, const float*,
                           float*, bool, Layout, Layout) {
  no_onednn();
}
void conv2d_backward_data_onednn(const Conv2dGeometry&, const float*, const float*, float*, Layout,
                                 Layout) {
  no_onednn();
}
void conv2d_backward_filter_onednn(const Conv2dGeometry&, const float*, const float*, float*,
                                   float, Layout, Layout) {
  no_onednn();
}

#endif  // MINIDL_WITH_ONEDNN

}  // namespace minidl::cpu
