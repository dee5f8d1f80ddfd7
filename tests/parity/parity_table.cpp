// The parity table's machinery: the comparison, the input makers and the two row
// kinds (an op, a layer). The rows are in rows.cpp, the test cases in parity_test.cpp.
#include "parity_table.hpp"

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/random.hpp"

namespace minidl::parity {

namespace {

bool within(double got, double ref, const Tolerance& tol) {
  if (got == ref) return true;  // also +-inf against itself
  if (std::isnan(got) && std::isnan(ref)) return true;
  if (!std::isfinite(got) || !std::isfinite(ref)) return false;  // inf against anything else
  return std::fabs(got - ref) <= double(tol.atol) + double(tol.rtol) * std::fabs(ref);
}

std::string fmt(double v) {
  std::ostringstream s;
  s << std::setprecision(9) << v;
  return s.str();
}

}  // namespace

Comparison compare(const std::string& name, const Tensor& got, const Tensor& ref,
                   const Tolerance& tol, std::size_t keep) {
  Comparison c;
  c.name = name;
  if (!got.defined() || !ref.defined()) {
    if (got.defined() != ref.defined()) c.error = "one of the two results is undefined";
    return c;
  }
  if (got.shape() != ref.shape()) {
    c.error = "shape " + got.shape().str() + " vs " + ref.shape().str();
    return c;
  }
  if (got.dtype() != ref.dtype()) {
    c.error = std::string("dtype ") + dtype_name(got.dtype()) + " vs " + dtype_name(ref.dtype());
    return c;
  }
  c.count = got.numel();
  const auto note = [&](std::int64_t i, double g, double r) {
    if (c.first.size() < keep) c.first.push_back({i, g, r});
    ++c.mismatches;
  };
  // Read in place on the host (no extra copy of a > 2^31-element result).
  const Tensor gh = got.device().is_cpu() ? got : got.to(Device::cpu());
  const Tensor rh = ref.device().is_cpu() ? ref : ref.to(Device::cpu());
  if (got.dtype() == DType::Int32) {
    const std::int32_t *g = gh.data<std::int32_t>(), *r = rh.data<std::int32_t>();
    for (std::int64_t i = 0; i < c.count; ++i)
      if (g[i] != r[i]) note(i, g[i], r[i]);
  } else {
    const float *g = gh.data<float>(), *r = rh.data<float>();
    for (std::int64_t i = 0; i < c.count; ++i)
      if (!within(g[i], r[i], tol)) note(i, g[i], r[i]);
  }
  return c;
}

std::string describe(const Comparison& c, const Tolerance& tol) {
  std::ostringstream s;
  s << c.name << ": ";
  if (!c.error.empty()) return s.str() + c.error;
  if (c.mismatches == 0) {
    s << c.count << " elements match";
    return s.str();
  }
  s << c.mismatches << " of " << c.count << " elements differ (atol " << tol.atol << ", rtol "
    << tol.rtol << ")";
  for (const Mismatch& m : c.first)
    s << "\n    [" << m.index << "] got " << fmt(m.got) << ", expected " << fmt(m.ref)
      << " (diff " << fmt(std::fabs(m.got - m.ref)) << ")";
  return s.str();
}

::testing::AssertionResult results_match(const Results& got, const Results& ref,
                                         const Tolerance& tol) {
  std::ostringstream names;
  for (const auto& [n, t] : ref) names << " " << n;
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << got.size() << " results, expected " << ref.size()
                                         << " (" << names.str() << " )";
  bool ok = true;
  std::ostringstream report;
  for (std::size_t i = 0; i < got.size(); ++i) {
    Comparison c;
    if (got[i].first != ref[i].first) {
      c.name = ref[i].first;
      c.error = "result named '" + got[i].first + "' in its place";
    } else {
      c = compare(ref[i].first, got[i].second, ref[i].second, tol);
    }
    if (!c.ok()) {
      ok = false;
      report << "\n  " << describe(c, tol);
    }
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "results differ:" << report.str();
}

std::pair<Results, bool> perturbed(const Results& results, std::size_t which) {
  Results out;
  for (const auto& [n, t] : results)
    out.emplace_back(n, t.defined() ? t.to(Device::cpu()).clone() : t);
  Tensor& t = out.at(which).second;
  if (!t.defined() || t.numel() == 0) return {out, false};
  const std::int64_t n = t.numel();
  if (t.dtype() == DType::Int32) {
    t.data<std::int32_t>()[n / 2] += 1;
    return {out, true};
  }
  float* v = t.data<float>();
  for (std::int64_t k = 0; k < n; ++k) {  // the middle element, else the next finite one
    float& x = v[(n / 2 + k) % n];
    if (std::isfinite(x)) {
      x += 1e-2f * std::max(1.0f, std::fabs(x));
      return {out, true};
    }
  }
  v[n / 2] = 0.0f;  // nothing finite (a NaN loss): a number where NaN or inf was
  return {out, true};
}

// ---- makers -----------------------------------------------------------------------

Maker normal_in(Shape shape, std::uint64_t seed, float mean, float stddev) {
  return [=] {
    Generator gen(seed);
    return normal(shape, mean, stddev, gen);
  };
}

Maker uniform_in(Shape shape, std::uint64_t seed, float low, float high) {
  return [=] {
    Generator gen(seed);
    return uniform(shape, low, high, gen);
  };
}

Maker labels_in(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  return [=] {
    Generator gen(seed);
    const auto u = uniform({rows}, 0.0f, 1.0f, gen).to_vector<float>();
    std::vector<std::int32_t> labels(u.size());
    for (std::size_t i = 0; i < u.size(); ++i)
      labels[i] = std::min(std::int32_t(classes - 1), std::int32_t(u[i] * float(classes)));
    return from_vector(labels, {rows});
  };
}

Maker signs_in(Shape shape, std::uint64_t seed) {
  return [=] {
    Generator gen(seed);
    Tensor t = uniform(shape, 0.0f, 1.0f, gen);
    float* v = t.data<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) v[i] = v[i] < 0.5f ? -1.0f : 1.0f;
    return t;
  };
}

Maker soft_targets_in(Shape shape, std::uint64_t seed) {
  return [=] {
    Generator gen(seed);
    Tensor t = uniform(shape, 0.05f, 1.0f, gen);
    const std::int64_t k = shape.rank() == 0 ? 1 : shape.dim(shape.rank() - 1);
    float* v = t.data<float>();
    for (std::int64_t r = 0; k > 0 && r < t.numel() / k; ++r) {
      double s = 0;
      for (std::int64_t j = 0; j < k; ++j) s += v[r * k + j];
      for (std::int64_t j = 0; j < k; ++j) v[r * k + j] = float(v[r * k + j] / s);
    }
    return t;
  };
}

Maker values_in(std::vector<float> values, Shape shape) {
  return [=] { return from_vector(values, shape); };
}

Maker with_value_in(Shape shape, std::uint64_t seed, float stddev, float value,
                    std::int64_t every, std::int64_t first) {
  return [=] {
    Generator gen(seed);
    Tensor t = normal(shape, 0.0f, stddev, gen);
    float* v = t.data<float>();
    for (std::int64_t i = first; i < t.numel(); i += every) v[i] = value;
    return t;
  };
}

// ---- rows -------------------------------------------------------------------------

Row op_row(std::string name, std::vector<Maker> inputs,
           std::function<Results(const std::vector<Tensor>& inputs, Device device)> op,
           Tolerance tol) {
  Row row;
  row.name = std::move(name);
  row.tol = tol;
  row.run = [inputs = std::move(inputs), op = std::move(op)](Device device) {
    std::vector<Tensor> in;
    for (const Maker& m : inputs) in.push_back(m().to(device));
    return op(in, device);
  };
  return row;
}

namespace {

Results run_layer(const LayerMaker& make_layer, const std::vector<Maker>& makers,
                  const LayerRowOptions& options, Device device) {
  std::vector<Tensor> in;
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const Maker& m : makers) {
    in.push_back(m().to(device));
    shapes.push_back(in.back().shape());
    dtypes.push_back(in.back().dtype());
  }
  std::shared_ptr<Layer> layer = make_layer(device);
  layer->set_name("layer");
  Generator gen(1234);  // parameter initialisation and dropout draws
  const Shape out_shape = layer->build(shapes, dtypes, BuildContext{device, &gen});
  layer->set_training(options.training);

  Results r;
  const std::vector<Parameter*> params = layer->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string pname = "p" + std::to_string(i);
    r.emplace_back("init." + pname, params[i]->value.clone());
    params[i]->value.copy_from(normal_in(params[i]->value.shape(), 100 + i, 0.0f, 0.5f)());
    params[i]->grad.fill_(0.0);
  }
  const auto buffers = layer->buffers();
  for (std::size_t i = 0; i < buffers.size(); ++i)
    buffers[i].second->copy_from(uniform_in(buffers[i].second->shape(), 200 + i, 0.5f, 1.5f)());

  std::vector<const Tensor*> in_ptrs;
  for (const Tensor& t : in) in_ptrs.push_back(&t);
  Tensor y = empty(out_shape, device, layer->output_dtype());
  layer->forward(in_ptrs, y);
  r.emplace_back("y", y);

  if (y.dtype() == DType::Float32) {
    const Tensor dy = layer->is_loss() ? ones(out_shape, device)
                                       : normal_in(out_shape, 999)().to(device);
    std::vector<std::size_t> which = options.grad_inputs;
    if (which.empty()) {
      for (std::size_t i = 0; i < in.size(); ++i)
        if (in[i].dtype() == DType::Float32 && !(layer->is_loss() && i > 0)) which.push_back(i);
    }
    std::vector<Tensor> dx(in.size());
    std::vector<Tensor*> dx_ptrs(in.size(), nullptr);
    for (std::size_t i : which) {
      dx[i] = empty(in[i].shape(), device);
      dx_ptrs[i] = &dx[i];
    }
    layer->backward(in_ptrs, y, dy, dx_ptrs);
    for (std::size_t i : which) r.emplace_back("dx" + std::to_string(i), dx[i]);
    for (std::size_t i = 0; i < params.size(); ++i)
      r.emplace_back("grad.p" + std::to_string(i), params[i]->grad);
  }
  for (const auto& [bname, t] : buffers) r.emplace_back("buffer." + bname, t->clone());
  return r;
}

}  // namespace

Row layer_row(std::string name, LayerMaker make_layer, std::vector<Maker> inputs, Tolerance tol,
              LayerRowOptions options) {
  Row row;
  row.name = std::move(name);
  row.tol = tol;
  row.run = [make_layer = std::move(make_layer), inputs = std::move(inputs),
             options = std::move(options)](Device device) {
    return run_layer(make_layer, inputs, options, device);
  };
  return row;
}

}  // namespace minidl::parity
