#include "model_file.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <system_error>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <set>
#include <vector>

#include "../core/parallel.hpp"
#include "../io/atomic_file.hpp"
#include "../io/text_writer.hpp"

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
  // The support-vector lines (nearly all of the file) formatted in parallel by
  // to_chars: the bytes printf's "%.17g " / "%lld:%.9g " wrote (io/text_writer.hpp).
  const float* svp = sv.sparse() ? nullptr : sv.dense().data<float>();
  const std::int64_t row_bytes =
      18 * (k - 1) + 16 * (sv.sparse() ? (n_sv > 0 ? sv.csr().nnz() / n_sv : 0) : d) + 1;
  text::write_rows(f, n_sv, row_bytes, [&](std::int64_t s, std::string& out) {
    for (std::int64_t r = 0; r < k - 1; ++r) {
      text::put_g(out, dc[static_cast<std::size_t>(r * n_sv + s)], 17);
      out += ' ';
    }
    const auto feature = [&out](std::int64_t column, float value) {
      text::put_int(out, column + 1);
      out += ':';
      text::put_float9(out, value);
      out += ' ';
    };
    if (sv.sparse()) {
      const CsrMatrix& m = sv.csr();
      for (std::int64_t t = m.row_ptr[static_cast<std::size_t>(s)];
           t < m.row_ptr[static_cast<std::size_t>(s + 1)]; ++t)
        if (m.values[static_cast<std::size_t>(t)] != 0.0f)
          feature(m.col_idx[static_cast<std::size_t>(t)], m.values[static_cast<std::size_t>(t)]);
    } else {
      for (std::int64_t j = 0; j < d; ++j)
        if (svp[s * d + j] != 0.0f) feature(j, svp[s * d + j]);
    }
    out += '\n';
  });
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

// What a support-vector line must satisfy (besides its syntax).
struct SvRules {
  std::int64_t k = 2;  // classes: k - 1 coefficients per line
  std::int64_t n_sv = 0;
  bool dense_only = true;
  std::size_t max_dense_bytes = 0;
};

// Support-vector lines read: k - 1 coefficients per line, and the features in CSR
// form (1-based indices, int64: a dense-only model with a raised limit may go past
// int32).
struct SvLines {
  std::vector<double> coef;
  std::vector<std::int64_t> row_end{0};
  std::vector<std::int64_t> cols;
  std::vector<float> values;
  std::int64_t lines = 0;
  std::int64_t max_index = 0;
};

bool is_model_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// One support-vector line, the old way (split into strings, strtod / strtoll):
// every check, in the order and with the messages this reader always had. Throws
// IoError "<path>:<line>:<column>: ...".
void slow_sv_line(const std::string& text, const std::string& path, std::int64_t line,
                  const SvRules& rules, SvLines& out) {
  const std::int64_t k = rules.k;
  const std::int64_t n_sv = rules.n_sv;
  const bool dense_only = rules.dense_only;
  const double max_dense_bytes = double(rules.max_dense_bytes);
  const auto dense_bytes = [&](std::int64_t d) { return double(n_sv) * double(d) * 4.0; };
  const std::vector<Token> toks = split(text);
  if (static_cast<std::int64_t>(toks.size()) < k - 1)
    fail(path, line, static_cast<std::int64_t>(text.size()) + 1,
         detail::concat("missing dual coefficients: a support vector of a ", k,
                        "-class model starts with ", k - 1, ", this line has ", toks.size(),
                        " values"));
  for (std::int64_t r = 0; r < k - 1; ++r) {
    const Token& t = toks[static_cast<std::size_t>(r)];
    out.coef.push_back(parse_double(t.text, path, line, t.col));
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
    if (dense_only && dense_bytes(idx) > max_dense_bytes)
      fail(path, line, c,
           detail::concat("feature index ", idx, " makes the support vectors a dense [", n_sv,
                          ", ", idx, "] float32 matrix of ", detail::gib_text(dense_bytes(idx)),
                          ", more than the limit of ", detail::gib_text(max_dense_bytes),
                          " (max_dense_bytes)"));
    last = idx;
    out.max_index = std::max<std::int64_t>(out.max_index, idx);
    const std::int64_t value_col = c + static_cast<std::int64_t>(colon) + 1;
    const double value = parse_double(tok.substr(colon + 1), path, line, value_col);
    if (std::fabs(value) > double(std::numeric_limits<float>::max()))
      fail(path, line, value_col,
           "feature value " + detail::excerpt(tok.substr(colon + 1)) + " is not finite in float32");
    out.cols.push_back(idx);
    out.values.push_back(static_cast<float>(value));
  }
  out.row_end.push_back(static_cast<std::int64_t>(out.cols.size()));
  ++out.lines;
}

// One support-vector line [s, e) the fast way (std::from_chars), for the lines
// minidl and LIBSVM write: plain decimal numbers, every check passing. Anything
// else returns false with `out` as it was, and the line goes to slow_sv_line,
// which accepts it (a "+1" coefficient, a hex value, ...) or names its error.
bool fast_sv_line(const char* s, const char* e, const SvRules& rules, SvLines& out) {
  const std::size_t coef_size = out.coef.size();
  const std::size_t nnz = out.cols.size();
  const auto give_up = [&] {
    out.coef.resize(coef_size);
    out.cols.resize(nnz);
    out.values.resize(nnz);
    return false;
  };
  const char* p = s;
  while (p < e && is_model_space(*p)) ++p;
  // A number ending at a separator; nullptr for anything else.
  const auto number = [e](const char* at, double& v) -> const char* {
    const auto res = std::from_chars(at, e, v);
    if (res.ec != std::errc()) return nullptr;
    return res.ptr == e || is_model_space(*res.ptr) ? res.ptr : nullptr;
  };
  for (std::int64_t r = 0; r < rules.k - 1; ++r) {
    double v = 0;
    const char* end = number(p, v);
    if (end == nullptr || !std::isfinite(v)) return give_up();
    out.coef.push_back(v);
    p = end;
    while (p < e && is_model_space(*p)) ++p;
  }
  std::int64_t last = 0;
  std::int64_t max_index = out.max_index;
  const double dense_limit = double(rules.max_dense_bytes);
  while (p < e) {
    std::int64_t idx = 0;
    const char* q = p;
    while (q < e && q - p < 18 && static_cast<unsigned>(*q - '0') < 10u) {
      idx = idx * 10 + (*q - '0');
      ++q;
    }
    if (q == p || q == e || *q != ':' || idx <= last) return give_up();
    if (rules.dense_only ? double(rules.n_sv) * double(idx) * 4.0 > dense_limit
                         : idx > std::numeric_limits<std::int32_t>::max())
      return give_up();
    double v = 0;
    const char* end = number(q + 1, v);
    if (end == nullptr || !std::isfinite(v) ||
        std::fabs(v) > double(std::numeric_limits<float>::max()))
      return give_up();
    out.cols.push_back(idx);
    out.values.push_back(static_cast<float>(v));
    last = idx;
    max_index = std::max(max_index, idx);
    p = end;
    while (p < e && is_model_space(*p)) ++p;
  }
  out.max_index = max_index;
  out.row_end.push_back(static_cast<std::int64_t>(out.cols.size()));
  ++out.lines;
  return true;
}

// The first rules.n_sv lines of `text` (what follows the "SV" line, which is line
// `sv_line` of `path`), as the line-by-line reader read them: the same values, and
// for bad input the same first error. Chunks of whole lines are parsed in parallel
// with fast_sv_line; a chunk stops at its first line that needs the slow way, and
// the rest of it is read in order afterwards, where the line numbers are known.
SvLines read_sv_lines(const char* buf, std::size_t len, const std::string& path,
                      std::int64_t sv_line, const SvRules& rules) {
  const std::int64_t chunks = std::max<std::int64_t>(
      1, std::min<std::int64_t>(static_cast<std::int64_t>(len >> 20) + 1,
                                std::int64_t{8} * cpu_threads()));
  std::vector<std::size_t> cut(static_cast<std::size_t>(chunks) + 1, len);
  cut[0] = 0;
  for (std::int64_t c = 1; c < chunks; ++c) {
    std::size_t at = std::max(
        static_cast<std::size_t>(static_cast<double>(len) * double(c) / double(chunks)),
        cut[static_cast<std::size_t>(c - 1)]);
    const void* nl = at < len ? std::memchr(buf + at, '\n', len - at) : nullptr;
    cut[static_cast<std::size_t>(c)] =
        nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf) + 1 : len;
  }
  const auto line_end = [&](std::size_t from, std::size_t to) {
    const void* nl = std::memchr(buf + from, '\n', to - from);
    return nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf) : to;
  };
  struct Piece {
    SvLines lines;
    std::size_t stop = std::string::npos;  // the first line fast_sv_line refused
    std::exception_ptr error;              // std::bad_alloc
  };
  std::vector<Piece> pieces(static_cast<std::size_t>(chunks));
  parallel_chunks(chunks, [&](std::int64_t c) {
    Piece& piece = pieces[static_cast<std::size_t>(c)];
    const std::size_t end = cut[static_cast<std::size_t>(c) + 1];
    try {
      // A feature takes 4 bytes at least: room for all, so the arrays never move.
      const std::size_t most = (end - cut[static_cast<std::size_t>(c)]) / 4 + 2;
      piece.lines.cols.reserve(most);
      piece.lines.values.reserve(most);
      for (std::size_t at = cut[static_cast<std::size_t>(c)]; at < end;) {
        // The lines past the n_sv-th are never read.
        if (piece.lines.lines >= rules.n_sv) break;
        const std::size_t eol = line_end(at, end);
        if (!fast_sv_line(buf + at, buf + eol, rules, piece.lines)) {
          piece.stop = at;
          break;
        }
        at = eol < end ? eol + 1 : end;
      }
    } catch (...) {
      piece.error = std::current_exception();
    }
  });
  SvLines all;
  all.coef.reserve(static_cast<std::size_t>(rules.n_sv * (rules.k - 1)));
  all.row_end.reserve(static_cast<std::size_t>(rules.n_sv) + 1);
  {
    std::size_t nnz = 0;
    for (const Piece& piece : pieces) nnz += piece.lines.cols.size();
    all.cols.reserve(nnz);
    all.values.reserve(nnz);
  }
  for (std::int64_t c = 0; c < chunks && all.lines < rules.n_sv; ++c) {
    Piece& piece = pieces[static_cast<std::size_t>(c)];
    if (piece.error) std::rethrow_exception(piece.error);
    const SvLines& p = piece.lines;
    const std::int64_t take = std::min(p.lines, rules.n_sv - all.lines);
    const auto nnz = static_cast<std::size_t>(p.row_end[static_cast<std::size_t>(take)]);
    const std::int64_t base = static_cast<std::int64_t>(all.cols.size());
    all.coef.insert(all.coef.end(), p.coef.begin(),
                    p.coef.begin() + static_cast<std::ptrdiff_t>(take * (rules.k - 1)));
    all.cols.insert(all.cols.end(), p.cols.begin(), p.cols.begin() + static_cast<std::ptrdiff_t>(nnz));
    all.values.insert(all.values.end(), p.values.begin(),
                      p.values.begin() + static_cast<std::ptrdiff_t>(nnz));
    for (std::int64_t l = 1; l <= take; ++l)
      all.row_end.push_back(base + p.row_end[static_cast<std::size_t>(l)]);
    all.lines += take;
    if (piece.stop == std::string::npos) {
      piece = Piece();
      continue;
    }
    // The rest of this chunk in order, each line the fast way or the slow one.
    const std::size_t end = cut[static_cast<std::size_t>(c) + 1];
    for (std::size_t at = piece.stop; at < end && all.lines < rules.n_sv;) {
      const std::size_t eol = line_end(at, end);
      if (!fast_sv_line(buf + at, buf + eol, rules, all))
        slow_sv_line(std::string(buf + at, eol - at), path, sv_line + all.lines + 1, rules, all);
      at = eol < end ? eol + 1 : end;
    }
    piece = Piece();
  }
  if (all.lines < rules.n_sv)
    fail(path, sv_line + all.lines + 1, 1,
         detail::concat("expected ", rules.n_sv, " support vectors, found ", all.lines));
  all.max_index = 0;
  for (std::int64_t l = 0; l < all.lines; ++l) {  // a row's largest index is its last
    const std::int64_t e = all.row_end[static_cast<std::size_t>(l + 1)];
    if (e > all.row_end[static_cast<std::size_t>(l)])
      all.max_index = std::max(all.max_index, all.cols[static_cast<std::size_t>(e - 1)]);
  }
  return all;
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
  // The support vectors become a dense float32 [n_sv, d] matrix: its width is
  // bounded so that one large feature index cannot allocate gigabytes.
  const auto dense_bytes = [&](std::int64_t d) { return double(n_sv) * double(d) * 4.0; };
  if (dense_only && dense_bytes(num_features) > double(max_dense_bytes))
    throw ValueError(detail::concat("load_libsvm_model(", path, "): num_features ", num_features,
                                    " makes the support vectors a dense [", n_sv, ", ",
                                    num_features, "] float32 matrix of ",
                                    detail::gib_text(dense_bytes(num_features)), ", more than the limit of ",
                                    detail::gib_text(double(max_dense_bytes)), " (max_dense_bytes)"));
  SvRules rules;
  rules.k = k;
  rules.n_sv = n_sv;
  rules.dense_only = dense_only;
  rules.max_dense_bytes = max_dense_bytes;
  SvLines svs;
  if (n_sv > 0) {
    // The rest of the file at once (its size is bounded by the checks above), its
    // lines parsed in parallel chunks (read_sv_lines).
    std::unique_ptr<char[]> rest(new char[static_cast<std::size_t>(left)]);
    in.read(rest.get(), static_cast<std::streamsize>(left));
    svs = read_sv_lines(rest.get(), static_cast<std::size_t>(in.gcount()), path, line, rules);
  }
  const std::int64_t max_index = svs.max_index;
  std::vector<double> sv_coef(static_cast<std::size_t>((k - 1) * n_sv));
  for (std::int64_t sv_i = 0; sv_i < n_sv; ++sv_i)
    for (std::int64_t r = 0; r < k - 1; ++r)
      sv_coef[static_cast<std::size_t>(r * n_sv + sv_i)] =
          svs.coef[static_cast<std::size_t>(sv_i * (k - 1) + r)];
  svs.coef = {};
  const std::int64_t d = std::max<std::int64_t>({max_index, num_features, 1});
  Samples sv;
  if (dense_only) {
    Tensor dense = zeros({n_sv, d});
    float* svp = dense.data<float>();
    for (std::int64_t s = 0; s < n_sv; ++s)
      for (std::int64_t t = svs.row_end[static_cast<std::size_t>(s)];
           t < svs.row_end[static_cast<std::size_t>(s + 1)]; ++t)
        svp[s * d + svs.cols[static_cast<std::size_t>(t)] - 1] = svs.values[static_cast<std::size_t>(t)];
    sv = Samples(dense);
  } else {
    auto csr = std::make_shared<CsrMatrix>();
    csr->rows = n_sv;
    csr->cols = d;
    csr->row_ptr = std::move(svs.row_end);
    csr->col_idx.resize(svs.cols.size());
    for (std::size_t t = 0; t < svs.cols.size(); ++t)  // <= 2147483647: checked
      csr->col_idx[t] = static_cast<std::int32_t>(svs.cols[t] - 1);
    csr->values = std::move(svs.values);
    const bool keep_sparse = storage == Storage::Sparse || csr->density() < kSparseDensity ||
                             dense_bytes(d) > double(max_dense_bytes);
    sv = keep_sparse ? Samples(std::shared_ptr<const CsrMatrix>(std::move(csr)))
                     : Samples(csr_to_dense(*csr, max_dense_bytes));
  }
  svs = SvLines();
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
