#include "model_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "../io/atomic_file.hpp"

namespace minidl::svm {

void save_libsvm_model(const std::string& path, const SVC& model) {
  MINIDL_CHECK(model.fitted(), ValueError, "save_libsvm_model: the model is not fitted");
  const std::vector<double> dc = model.dual_coef();  // ValueError for one-vs-rest
  const KernelParams& kp = model.kernel();
  const auto k = static_cast<std::int64_t>(model.classes().size());
  const Tensor& sv = model.support_vectors();
  const std::int64_t n_sv = sv.size(0);
  const std::int64_t d = sv.size(1);
  AtomicFile f(path, "save_libsvm_model");
  f.print("svm_type c_svc\nkernel_type %s\n", kernel_name(kp.type));
  if (kp.type == KernelType::Polynomial) f.print("degree %d\n", kp.degree);
  if (kp.type != KernelType::Linear) f.print("gamma %.17g\n", kp.gamma);
  if (kp.type == KernelType::Polynomial || kp.type == KernelType::Sigmoid)
    f.print("coef0 %.17g\n", kp.coef0);
  f.print("nr_class %lld\ntotal_sv %lld\nrho", static_cast<long long>(k),
               static_cast<long long>(n_sv));
  for (double r : model.rho()) f.print(" %.17g", r);
  f.print("\nlabel");
  for (std::int32_t l : model.classes()) f.print(" %d", l);
  f.print("\nnr_sv");
  for (std::int64_t c : model.n_support()) f.print(" %lld", static_cast<long long>(c));
  f.print("\nSV\n");
  const float* svp = sv.data<float>();
  for (std::int64_t s = 0; s < n_sv; ++s) {
    for (std::int64_t r = 0; r < k - 1; ++r)
      f.print("%.17g ", dc[static_cast<std::size_t>(r * n_sv + s)]);
    for (std::int64_t j = 0; j < d; ++j)
      if (svp[s * d + j] != 0.0f)
        f.print("%lld:%.9g ", static_cast<long long>(j) + 1, double(svp[s * d + j]));
    f.write("\n");
  }
  f.commit();
}

namespace {

[[noreturn]] void fail(const std::string& path, std::int64_t line, const std::string& what) {
  throw IoError(detail::concat(path, ":", line, ": ", what));
}

double parse_double(const std::string& tok, const std::string& path, std::int64_t line) {
  char* end = nullptr;
  const double v = std::strtod(tok.c_str(), &end);
  if (tok.empty() || *end != '\0' || !std::isfinite(v))
    fail(path, line, "\"" + tok + "\" is not a finite number");
  return v;
}

long long parse_int(const std::string& tok, const std::string& path, std::int64_t line) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(tok.c_str(), &end, 10);
  if (tok.empty() || *end != '\0' || errno == ERANGE)
    fail(path, line, "\"" + tok + "\" is not an integer");
  return v;
}

}  // namespace

SVC load_libsvm_model(const std::string& path, std::int64_t num_features) {
  std::ifstream in(path);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading");
  KernelParams kp;
  kp.gamma = 0;
  bool have_kernel = false;
  long long nr_class = -1;
  long long total_sv = -1;
  std::vector<double> rho;
  std::vector<std::int32_t> labels;
  std::vector<std::int64_t> nr_sv;
  std::string text;
  std::int64_t line = 0;
  bool in_sv = false;
  while (!in_sv && std::getline(in, text)) {
    ++line;
    std::istringstream ls(text);
    std::string key;
    if (!(ls >> key)) continue;
    std::vector<std::string> vals;
    for (std::string v; ls >> v;) vals.push_back(v);
    const auto need = [&](std::size_t count) {
      if (vals.size() != count)
        fail(path, line,
             detail::concat("\"", key, "\" expects ", count, " values, got ", vals.size()));
    };
    if (key == "svm_type") {
      need(1);
      if (vals[0] != "c_svc")
        fail(path, line, "svm_type \"" + vals[0] + "\" is not supported (only c_svc)");
    } else if (key == "kernel_type") {
      need(1);
      try {
        kp.type = kernel_from_name(vals[0]);
      } catch (const ValueError&) {
        fail(path, line, "kernel_type \"" + vals[0] + "\" is not supported");
      }
      have_kernel = true;
    } else if (key == "degree") {
      need(1);
      kp.degree = static_cast<int>(parse_int(vals[0], path, line));
    } else if (key == "gamma") {
      need(1);
      kp.gamma = parse_double(vals[0], path, line);
    } else if (key == "coef0") {
      need(1);
      kp.coef0 = parse_double(vals[0], path, line);
    } else if (key == "nr_class") {
      need(1);
      nr_class = parse_int(vals[0], path, line);
      if (nr_class < 2) fail(path, line, "nr_class must be >= 2");
    } else if (key == "total_sv") {
      need(1);
      total_sv = parse_int(vals[0], path, line);
      if (total_sv < 0) fail(path, line, "total_sv must be >= 0");
    } else if (key == "rho") {
      if (nr_class < 2) fail(path, line, "rho before nr_class");
      need(static_cast<std::size_t>(nr_class * (nr_class - 1) / 2));
      for (const std::string& v : vals) rho.push_back(parse_double(v, path, line));
    } else if (key == "label") {
      if (nr_class < 2) fail(path, line, "label before nr_class");
      need(static_cast<std::size_t>(nr_class));
      for (const std::string& v : vals)
        labels.push_back(static_cast<std::int32_t>(parse_int(v, path, line)));
    } else if (key == "nr_sv") {
      if (nr_class < 2) fail(path, line, "nr_sv before nr_class");
      need(static_cast<std::size_t>(nr_class));
      for (const std::string& v : vals) nr_sv.push_back(parse_int(v, path, line));
    } else if (key == "probA" || key == "probB" || key == "prob_density_marks") {
      // probability outputs: not used by minidl's predictions
    } else if (key == "SV") {
      in_sv = true;
    } else {
      fail(path, line, "unknown model-file key \"" + key + "\"");
    }
  }
  MINIDL_CHECK(in_sv, IoError, path, ": no \"SV\" line (not a LIBSVM model?)");
  MINIDL_CHECK(have_kernel && nr_class >= 2 && total_sv >= 0 && !rho.empty() && !labels.empty() &&
                   !nr_sv.empty(),
               IoError, path,
               ": the header lacks one of kernel_type, nr_class, total_sv, rho, label, nr_sv");
  std::int64_t sum = 0;
  for (std::int64_t c : nr_sv) sum += c;
  MINIDL_CHECK(sum == total_sv, IoError, path, ": nr_sv adds up to ", sum, ", total_sv is ",
               total_sv);
  const auto k = static_cast<std::int64_t>(nr_class);
  const auto n_sv = static_cast<std::int64_t>(total_sv);
  std::vector<double> sv_coef(static_cast<std::size_t>((k - 1) * n_sv));
  std::vector<std::vector<std::pair<std::int64_t, float>>> feats(static_cast<std::size_t>(n_sv));
  std::int64_t max_index = 0;
  for (std::int64_t s = 0; s < n_sv; ++s) {
    if (!std::getline(in, text))
      fail(path, line + 1, detail::concat("expected ", n_sv, " support vectors, found ", s));
    ++line;
    std::istringstream ls(text);
    std::string tok;
    for (std::int64_t r = 0; r < k - 1; ++r) {
      if (!(ls >> tok)) fail(path, line, "missing dual coefficients");
      sv_coef[static_cast<std::size_t>(r * n_sv + s)] = parse_double(tok, path, line);
    }
    std::int64_t last = 0;
    while (ls >> tok) {
      const std::size_t colon = tok.find(':');
      if (colon == std::string::npos) fail(path, line, "\"" + tok + "\" is not <index>:<value>");
      const long long idx = parse_int(tok.substr(0, colon), path, line);
      if (idx <= last)
        fail(path, line, detail::concat("feature index ", idx, " does not increase"));
      last = idx;
      max_index = std::max<std::int64_t>(max_index, idx);
      feats[static_cast<std::size_t>(s)].push_back(
          {idx, static_cast<float>(parse_double(tok.substr(colon + 1), path, line))});
    }
  }
  const std::int64_t d = std::max<std::int64_t>({max_index, num_features, 1});
  Tensor sv = zeros({n_sv, d});
  float* svp = sv.data<float>();
  for (std::int64_t s = 0; s < n_sv; ++s)
    for (const auto& [idx, v] : feats[static_cast<std::size_t>(s)]) svp[s * d + idx - 1] = v;
  // LIBSVM's layout -> one column per pair.
  const std::int64_t np = k * (k - 1) / 2;
  std::vector<double> coef(static_cast<std::size_t>(n_sv * np), 0.0);
  std::vector<std::int64_t> start(static_cast<std::size_t>(k), 0);
  for (std::int64_t c = 1; c < k; ++c)
    start[static_cast<std::size_t>(c)] =
        start[static_cast<std::size_t>(c - 1)] + nr_sv[static_cast<std::size_t>(c - 1)];
  std::int64_t p = 0;
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = i + 1; j < k; ++j, ++p) {
      for (std::int64_t s = start[static_cast<std::size_t>(i)];
           s < start[static_cast<std::size_t>(i)] + nr_sv[static_cast<std::size_t>(i)]; ++s)
        coef[static_cast<std::size_t>(s * np + p)] =
            sv_coef[static_cast<std::size_t>((j - 1) * n_sv + s)];
      for (std::int64_t s = start[static_cast<std::size_t>(j)];
           s < start[static_cast<std::size_t>(j)] + nr_sv[static_cast<std::size_t>(j)]; ++s)
        coef[static_cast<std::size_t>(s * np + p)] =
            sv_coef[static_cast<std::size_t>(i * n_sv + s)];
    }
  if (kp.type == KernelType::Linear && kp.gamma <= 0) kp.gamma = 1.0;  // unused by linear
  try {
    return SVC::from_parts(kp, std::move(labels), std::move(nr_sv), sv, std::move(coef),
                           std::move(rho));
  } catch (const ValueError& e) {
    throw IoError(detail::concat(path, ": ", e.what()));
  }
}

}  // namespace minidl::svm
