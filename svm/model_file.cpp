#include "model_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <set>
#include <vector>

#include "../io/atomic_file.hpp"

namespace minidl::svm {

void save_libsvm_model(const std::string& path, const SVC& model) {
  MINIDL_CHECK(model.fitted(), ValueError, "save_libsvm_model: the model is not fitted");
  const std::vector<double> dc = model.dual_coef();  // ValueError for one-vs-rest
  const KernelParams& kp = model.kernel();
  const auto k = static_cast<std::int64_t>(model.classes().size());
  const Samples sv = model.support_vector_samples();  // dense or CSR
  const std::int64_t n_sv = sv.rows();
  const std::int64_t d = sv.cols();
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
  if (model.has_probability()) {
    f.print("\nprobA");
    for (double a : model.prob_a()) f.print(" %.17g", a);
    f.print("\nprobB");
    for (double b : model.prob_b()) f.print(" %.17g", b);
  }
  f.print("\nnr_sv");
  for (std::int64_t c : model.n_support()) f.print(" %lld", static_cast<long long>(c));
  f.print("\nSV\n");
  const float* svp = sv.sparse() ? nullptr : sv.dense().data<float>();
  for (std::int64_t s = 0; s < n_sv; ++s) {
    for (std::int64_t r = 0; r < k - 1; ++r)
      f.print("%.17g ", dc[static_cast<std::size_t>(r * n_sv + s)]);
    if (sv.sparse()) {
      const CsrMatrix& m = sv.csr();
      for (std::int64_t t = m.row_ptr[static_cast<std::size_t>(s)];
           t < m.row_ptr[static_cast<std::size_t>(s + 1)]; ++t)
        if (m.values[static_cast<std::size_t>(t)] != 0.0f)
          f.print("%lld:%.9g ", static_cast<long long>(m.col_idx[static_cast<std::size_t>(t)]) + 1,
                  double(m.values[static_cast<std::size_t>(t)]));
    } else {
      for (std::int64_t j = 0; j < d; ++j)
        if (svp[s * d + j] != 0.0f)
          f.print("%lld:%.9g ", static_cast<long long>(j) + 1, double(svp[s * d + j]));
    }
    f.write("\n");
  }
  f.commit();
}

namespace {

// A whitespace-separated token and its 1-based column (byte offset) in its line.
struct Token {
  std::string text;
  std::int64_t col;
};

std::vector<Token> split(const std::string& line) {
  std::vector<Token> out;
  std::size_t i = 0;
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  while (i < line.size()) {
    while (i < line.size() && space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !space(line[i])) ++i;
    if (i > start)
      out.push_back({line.substr(start, i - start), static_cast<std::int64_t>(start) + 1});
  }
  return out;
}

// "<path>:<line>:<column>: <what>", the compiler's format editors jump to.
[[noreturn]] void fail(const std::string& path, std::int64_t line, std::int64_t col,
                       const std::string& what) {
  throw IoError(detail::concat(path, ":", line, ":", col, ": ", what));
}

double parse_double(const std::string& tok, const std::string& path, std::int64_t line,
                    std::int64_t col) {
  char* end = nullptr;
  const double v = std::strtod(tok.c_str(), &end);
  if (tok.empty() || *end != '\0' || !std::isfinite(v))
    fail(path, line, col, detail::excerpt(tok) + " is not a finite number");
  return v;
}

// An integer in [lo, hi], converted without truncation: "nr_class 9999999999"
// and "label 99999999999" are errors, not wrapped values.
long long parse_int(const std::string& tok, const char* what, long long lo, long long hi,
                    const std::string& path, std::int64_t line, std::int64_t col) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(tok.c_str(), &end, 10);
  if (tok.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    fail(path, line, col,
         detail::concat(what, " ", detail::excerpt(tok), " is not an integer in [", lo, ", ", hi,
                        "]"));
  return v;
}

SVC load_model(const std::string& path, std::int64_t num_features, std::size_t max_dense_bytes,
               Storage storage) {
  // Dense: the support vectors become a dense matrix, bounded by max_dense_bytes
  // from the first index on. Auto / Sparse: they are read as CSR (int32 indices),
  // and Auto makes them dense only when that is both worth it (density) and small.
  const bool dense_only = storage == Storage::Dense;
  struct stat st {};
  MINIDL_CHECK(::stat(path.c_str(), &st) == 0, IoError, path, ": cannot open for reading: ",
               errno_text(errno));
  MINIDL_CHECK(S_ISREG(st.st_mode), IoError, path, ": not a regular file");
  std::ifstream in(path);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading: ", errno_text(errno));
  const auto file_bytes = static_cast<long long>(st.st_size);
  // Every count a header declares is checked against what the file can hold
  // before anything is allocated for it: a 120-byte file cannot describe
  // 300 million support vectors.
  const long long max_count = std::max(file_bytes, 2LL);
  KernelParams kp;
  kp.gamma = 0;
  bool have_kernel = false;
  long long nr_class = -1;
  long long total_sv = -1;
  std::vector<double> rho;
  std::vector<std::int32_t> labels;
  std::vector<std::int64_t> nr_sv;
  std::set<std::string> seen;
  std::string text;
  std::int64_t line = 0;
  bool in_sv = false;
  std::vector<double> prob_a, prob_b;
  std::int64_t prob_line = 0;
  while (!in_sv && std::getline(in, text)) {
    ++line;
    const std::vector<Token> toks = split(text);
    if (toks.empty()) continue;
    const std::string& key = toks[0].text;
    const std::int64_t n_vals = static_cast<std::int64_t>(toks.size()) - 1;
    const auto val = [&](std::int64_t i) -> const std::string& {
      return toks[static_cast<std::size_t>(i + 1)].text;
    };
    const auto col = [&](std::int64_t i) { return toks[static_cast<std::size_t>(i + 1)].col; };
    const auto need = [&](long long count) {
      if (n_vals != count)
        fail(path, line,
             n_vals > count ? col(count) : static_cast<std::int64_t>(text.size()) + 1,
             detail::concat(detail::excerpt(key), " expects ", count, " values, got ",
                            n_vals));
    };
    if (key != "SV" && !seen.insert(key).second)
      fail(path, line, 1, "duplicate header key " + detail::excerpt(key));
    if (key == "svm_type") {
      need(1);
      if (val(0) != "c_svc")
        fail(path, line, col(0),
             "svm_type " + detail::excerpt(val(0)) + " is not supported (only c_svc)");
    } else if (key == "kernel_type") {
      need(1);
      try {
        kp.type = kernel_from_name(val(0));
      } catch (const ValueError&) {
        fail(path, line, col(0), "kernel_type " + detail::excerpt(val(0)) + " is not supported");
      }
      have_kernel = true;
    } else if (key == "degree") {
      need(1);
      kp.degree = static_cast<int>(
          parse_int(val(0), "degree", 0, std::numeric_limits<int>::max(), path, line, col(0)));
    } else if (key == "gamma") {
      need(1);
      kp.gamma = parse_double(val(0), path, line, col(0));
    } else if (key == "coef0") {
      need(1);
      kp.coef0 = parse_double(val(0), path, line, col(0));
    } else if (key == "nr_class") {
      need(1);
      // A label per class on the label line: at most half the file's bytes.
      nr_class = parse_int(val(0), "nr_class", 2, std::min(max_count / 2 + 1, 1LL << 31), path,
                           line, col(0));
    } else if (key == "total_sv") {
      need(1);
      total_sv = parse_int(val(0), "total_sv", 0, max_count, path, line, col(0));
    } else if (key == "rho" || key == "probA" || key == "probB") {
      if (nr_class < 2) fail(path, line, 1, key + " before nr_class");
      need(nr_class * (nr_class - 1) / 2);
      std::vector<double>& out = key == "rho" ? rho : key == "probA" ? prob_a : prob_b;
      for (std::int64_t i = 0; i < n_vals; ++i)
        out.push_back(parse_double(val(i), path, line, col(i)));
      if (key != "rho") prob_line = line;
    } else if (key == "label") {
      if (nr_class < 2) fail(path, line, 1, "label before nr_class");
      need(nr_class);
      for (std::int64_t i = 0; i < n_vals; ++i) {
        const auto l = static_cast<std::int32_t>(parse_int(
            val(i), "label", std::numeric_limits<std::int32_t>::min(),
            std::numeric_limits<std::int32_t>::max(), path, line, col(i)));
        if (std::find(labels.begin(), labels.end(), l) != labels.end())
          fail(path, line, col(i), detail::concat("label ", l, " appears twice"));
        labels.push_back(l);
      }
    } else if (key == "nr_sv") {
      if (nr_class < 2) fail(path, line, 1, "nr_sv before nr_class");
      if (total_sv < 0) fail(path, line, 1, "nr_sv before total_sv");
      need(nr_class);
      long long sum = 0;
      for (std::int64_t i = 0; i < n_vals; ++i) {
        const long long c = parse_int(val(i), "nr_sv", 0, total_sv, path, line, col(i));
        sum += c;  // <= total_sv before each addition: no overflow
        if (sum > total_sv)
          fail(path, line, col(i),
               detail::concat("nr_sv adds up to more than total_sv ", total_sv));
        nr_sv.push_back(c);
      }
      if (sum != total_sv)
        fail(path, line, 1, detail::concat("nr_sv adds up to ", sum, ", total_sv is ", total_sv));
    } else if (key == "prob_density_marks") {
      // one-class SVM's density marks (LIBSVM >= 3.3): meaningless for c_svc, ignored
    } else if (key == "SV") {
      if (n_vals != 0) fail(path, line, col(0), "the \"SV\" line takes no values");
      in_sv = true;
    } else {
      fail(path, line, 1, "unknown model-file key " + detail::excerpt(key));
    }
  }
  if (!in_sv)
    fail(path, line + 1, 1,
         "the file ends before the \"SV\" line that starts the support vectors (not a LIBSVM "
         "model?)");
  {
    // svm-predict crashes on a header without rho or nr_sv; name what is missing.
    std::string missing;
    const auto need_key = [&](bool present, const char* key) {
      if (!present) missing += (missing.empty() ? "" : ", ") + std::string(key);
    };
    need_key(seen.count("svm_type") > 0, "svm_type");
    need_key(have_kernel, "kernel_type");
    need_key(nr_class >= 2, "nr_class");
    need_key(total_sv >= 0, "total_sv");
    need_key(!rho.empty(), "rho");
    need_key(!labels.empty(), "label");
    need_key(!nr_sv.empty(), "nr_sv");
    if (!missing.empty())
      fail(path, line, 1, "the header before \"SV\" lacks " + missing);
  }
  if (prob_a.empty() != prob_b.empty())
    fail(path, prob_line, 1,
         prob_a.empty() ? "probB without probA (probability models carry both)"
                        : "probA without probB (probability models carry both)");
  const auto k = static_cast<std::int64_t>(nr_class);
  const auto n_sv = static_cast<std::int64_t>(total_sv);
  // A support-vector line holds k - 1 coefficients, each a character and a
  // separator at least.
  const long long left = file_bytes - static_cast<long long>(in.tellg());
  if (n_sv > 0 && (left < 0 || n_sv > left / (2 * (k - 1))))
    fail(path, line, 1,
         detail::concat("total_sv ", n_sv, " support vectors of ", k - 1,
                        " coefficients need at least ", 2 * (k - 1), " bytes each, but only ",
                        std::max(left, 0LL), " bytes follow the SV line"));
  const std::int64_t np = k * (k - 1) / 2;
  // n_sv * np doubles: bounded by the same limit as the dense support vectors.
  if (n_sv > 0 && static_cast<double>(n_sv) * double(np) * 8.0 > double(max_dense_bytes))
    fail(path, line, 1,
         detail::concat(n_sv, " support vectors x ", np, " class pairs of coefficients would take ",
                        detail::gib_text(double(n_sv) * double(np) * 8.0), ", more than the limit of ",
                        detail::gib_text(double(max_dense_bytes)), " (max_dense_bytes)"));
  std::vector<double> sv_coef(static_cast<std::size_t>((k - 1) * n_sv));
  std::vector<std::vector<std::pair<std::int64_t, float>>> feats(static_cast<std::size_t>(n_sv));
  // The support vectors become a dense float32 [n_sv, d] matrix: its width is
  // bounded so that one large feature index cannot allocate gigabytes.
  const auto dense_bytes = [&](std::int64_t d) { return double(n_sv) * double(d) * 4.0; };
  if (dense_only && dense_bytes(num_features) > double(max_dense_bytes))
    throw ValueError(detail::concat("load_libsvm_model(", path, "): num_features ", num_features,
                                    " makes the support vectors a dense [", n_sv, ", ",
                                    num_features, "] float32 matrix of ",
                                    detail::gib_text(dense_bytes(num_features)), ", more than the limit of ",
                                    detail::gib_text(double(max_dense_bytes)), " (max_dense_bytes)"));
  std::int64_t max_index = 0;
  for (std::int64_t s = 0; s < n_sv; ++s) {
    if (!std::getline(in, text))
      fail(path, line + 1, 1, detail::concat("expected ", n_sv, " support vectors, found ", s));
    ++line;
    const std::vector<Token> toks = split(text);
    if (static_cast<std::int64_t>(toks.size()) < k - 1)
      fail(path, line, static_cast<std::int64_t>(text.size()) + 1,
           detail::concat("missing dual coefficients: a support vector of a ", k,
                          "-class model starts with ", k - 1, ", this line has ", toks.size(),
                          " values"));
    for (std::int64_t r = 0; r < k - 1; ++r) {
      const Token& t = toks[static_cast<std::size_t>(r)];
      sv_coef[static_cast<std::size_t>(r * n_sv + s)] = parse_double(t.text, path, line, t.col);
    }
    std::int64_t last = 0;
    for (std::size_t ti = static_cast<std::size_t>(k - 1); ti < toks.size(); ++ti) {
      const std::string& tok = toks[ti].text;
      const std::int64_t c = toks[ti].col;
      const std::size_t colon = tok.find(':');
      if (colon == std::string::npos)
        fail(path, line, c, detail::excerpt(tok) + " is not <index>:<value>");
      const long long idx = parse_int(tok.substr(0, colon), "feature index", 1,
                                      std::numeric_limits<std::int64_t>::max(), path, line, c);
      if (idx <= last)
        fail(path, line, c,
             detail::concat("feature index ", idx, " does not increase (after ", last, ")"));
      if (!dense_only && idx > std::numeric_limits<std::int32_t>::max())
        fail(path, line, c,
             detail::concat("feature index ", idx, " is above 2147483647, the largest minidl "
                                                   "reads (int32 column indices)"));
      if (dense_only && dense_bytes(idx) > double(max_dense_bytes))
        fail(path, line, c,
             detail::concat("feature index ", idx, " makes the support vectors a dense [", n_sv,
                            ", ", idx, "] float32 matrix of ", detail::gib_text(dense_bytes(idx)),
                            ", more than the limit of ", detail::gib_text(double(max_dense_bytes)),
                            " (max_dense_bytes)"));
      last = idx;
      max_index = std::max<std::int64_t>(max_index, idx);
      const std::int64_t value_col = c + static_cast<std::int64_t>(colon) + 1;
      const double value = parse_double(tok.substr(colon + 1), path, line, value_col);
      if (std::fabs(value) > double(std::numeric_limits<float>::max()))
        fail(path, line, value_col,
             "feature value " + detail::excerpt(tok.substr(colon + 1)) + " is not finite in float32");
      feats[static_cast<std::size_t>(s)].push_back({idx, static_cast<float>(value)});
    }
  }
  const std::int64_t d = std::max<std::int64_t>({max_index, num_features, 1});
  Samples sv;
  if (dense_only) {
    Tensor dense = zeros({n_sv, d});
    float* svp = dense.data<float>();
    for (std::int64_t s = 0; s < n_sv; ++s)
      for (const auto& [idx, v] : feats[static_cast<std::size_t>(s)]) svp[s * d + idx - 1] = v;
    sv = Samples(dense);
  } else {
    auto csr = std::make_shared<CsrMatrix>();
    csr->cols = d;
    std::vector<std::int32_t> cols;
    std::vector<float> values;
    for (std::int64_t s = 0; s < n_sv; ++s) {
      cols.clear();
      values.clear();
      for (const auto& [idx, v] : feats[static_cast<std::size_t>(s)]) {
        cols.push_back(static_cast<std::int32_t>(idx - 1));
        values.push_back(v);
      }
      csr->append_row(cols.data(), values.data(), static_cast<std::int64_t>(cols.size()));
    }
    const bool keep_sparse = storage == Storage::Sparse || csr->density() < kSparseDensity ||
                             dense_bytes(d) > double(max_dense_bytes);
    sv = keep_sparse ? Samples(std::shared_ptr<const CsrMatrix>(std::move(csr)))
                     : Samples(csr_to_dense(*csr, max_dense_bytes));
  }
  feats.clear();
  // LIBSVM's layout -> one column per pair.
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
    SVC model = SVC::from_parts(kp, std::move(labels), std::move(nr_sv), sv, std::move(coef),
                                std::move(rho));
    if (!prob_a.empty()) model.set_probability(std::move(prob_a), std::move(prob_b));
    return model;
  } catch (const ValueError& e) {
    throw IoError(detail::concat(path, ": ", e.what()));
  }
}

}  // namespace

SVC load_libsvm_model(const std::string& path, std::int64_t num_features,
                      std::size_t max_dense_bytes, Storage storage) {
  MINIDL_CHECK(num_features >= 0, ValueError, "load_libsvm_model(", path, "): num_features ",
               num_features, " < 0");
  MINIDL_CHECK(storage == Storage::Dense || num_features <= std::numeric_limits<std::int32_t>::max(),
               ValueError, "load_libsvm_model(", path, "): num_features ", num_features,
               " is above 2147483647 (int32 column indices of sparse support vectors)");
  try {
    return load_model(path, num_features, max_dense_bytes, storage);
  } catch (const std::bad_alloc&) {
    // The limits above keep a valid call far from this; what is left is a machine
    // short of memory.
    throw IoError(detail::concat(path, ": out of host memory while loading the model (limit ",
                                 detail::gib_text(double(max_dense_bytes)),
                                 " per dense matrix; the machine had less free)"));
  }
}

}  // namespace minidl::svm
