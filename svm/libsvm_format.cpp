#include "libsvm_format.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <fstream>
#include <limits>
#include <memory>
#include <new>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "../core/parallel.hpp"
#include "../io/atomic_file.hpp"
#include "../io/text_writer.hpp"

namespace minidl::svm {
namespace {

// How the text is read (libsvm_format.hpp, LibsvmReadTuning): it arrives in blocks
// of whole lines, each block is cut at line boundaries into chunks parsed in
// parallel, and the chunks' rows are appended in order. Every line is parsed
// alone (its line number comes from the lines before it), so the result, and the
// first error, do not depend on where the cuts fall.
//
// Numbers: std::from_chars where it reads the whole token (plain decimal labels,
// indices and values: all of the text minidl and LIBSVM write); any other token
// ("+1", "0x1p3", "1e-400", a malformed one) goes the slow way, through the
// strtod / strtoll code this reader always had, so what is accepted, the values
// and the error messages are the same as before.

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// A bad token: its line within the chunk, its column (from 1, bytes), and what.
struct LineError {
  std::int64_t line;
  std::size_t column;
  std::string what;
};

[[noreturn]] void fail_at(std::int64_t line, std::size_t column, std::string what) {
  throw LineError{line, column, std::move(what)};
}

struct Settings {
  std::int64_t num_features;
  // > 0: the dense reader's limit on one row (its message); 0: CSR, indices only
  // bounded by int32.
  std::size_t max_dense_bytes;
};

// One chunk's rows (CSR with offsets from the chunk's first non-zero).
struct Piece {
  std::vector<std::int64_t> row_end;
  std::vector<std::int32_t> cols;
  std::vector<float> values;
  std::vector<std::int32_t> labels;
  std::int64_t lines = 0;  // lines read (blank ones too)
  std::int64_t max_index = 0;
  std::int64_t max_index_line = 0;  // in the chunk, from 1
  bool failed = false;
  LineError error{0, 0, {}};
  std::exception_ptr other;  // std::bad_alloc
};

// The index checks that follow its syntax, in the order they always ran.
inline void check_index(std::int64_t index, std::int64_t last, const Settings& s,
                        std::int64_t line, std::size_t column) {
  if (index <= last)
    fail_at(line, column,
            detail::concat("feature index ", index, " does not increase (after ", last, ")"));
  if (s.num_features > 0 && index > s.num_features)
    fail_at(line, column,
            detail::concat("feature index ", index, " exceeds the ", s.num_features,
                           " features expected"));
  // One row alone already needs index floats once dense.
  if (s.max_dense_bytes > 0 && double(index) * 4.0 > double(s.max_dense_bytes))
    fail_at(line, column,
            detail::concat("feature index ", index, " would make even one dense row take ",
                           detail::gib_text(double(index) * 4.0), ", more than the limit of ",
                           detail::gib_text(double(s.max_dense_bytes)),
                           " (max_dense_bytes; minidl reads LIBSVM data into a dense matrix)"));
  if (index > std::numeric_limits<std::int32_t>::max())
    fail_at(line, column,
            detail::concat("feature index ", index, " is above 2147483647, the largest minidl "
                                                    "reads (int32 column indices)"));
}

inline bool finite_in_float(double value) {
  return std::isfinite(value) && std::fabs(value) <= 3.4028234663852886e38;
}

// The label token [t, e) the slow way (strtod), with its errors.
std::int32_t slow_label(const std::string& label_text, std::int64_t line, std::size_t column) {
  char* end = nullptr;
  errno = 0;
  const double label = std::strtod(label_text.c_str(), &end);
  if (end == label_text.c_str() || *end != '\0' || !std::isfinite(label))
    fail_at(line, column, "label " + detail::excerpt(label_text) + " is not a number");
  if (label != std::floor(label) || std::fabs(label) > 2147483647.0)
    fail_at(line, column,
            "label " + detail::excerpt(label_text) +
                " is not an integer in int32's range (minidl's SVC is a classifier)");
  return static_cast<std::int32_t>(label);
}

// A feature token the slow way (strtoll / strtod): every check, in the order the
// reader always made them.
void slow_feature(const std::string& tok, std::int64_t last, const Settings& s,
                  std::int64_t line, std::size_t column, std::int64_t& index_out,
                  float& value_out) {
  const std::size_t colon = tok.find(':');
  if (colon == std::string::npos)
    fail_at(line, column, "feature " + detail::excerpt(tok) + " is not <index>:<value>");
  const std::size_t value_column = column + colon + 1;
  const std::string idx_text = tok.substr(0, colon);
  const std::string val_text = tok.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  const long long index = std::strtoll(idx_text.c_str(), &end, 10);
  if (idx_text.empty() || *end != '\0' || errno == ERANGE || index < 1)
    fail_at(line, column,
            "feature index " + detail::excerpt(idx_text) + " is not an integer >= 1");
  check_index(index, last, s, line, column);
  errno = 0;
  const double value = std::strtod(val_text.c_str(), &end);
  if (val_text.empty() || *end != '\0')
    fail_at(line, value_column, "feature value " + detail::excerpt(val_text) + " is not a number");
  if (!finite_in_float(value))
    fail_at(line, value_column,
            "feature value " + detail::excerpt(val_text) + " is not finite in float32");
  index_out = index;
  value_out = static_cast<float>(value);
}

// One line [s, e) (no '\n'), line number `line` in its chunk.
void parse_line(const char* s, const char* e, std::int64_t line, const Settings& st,
                Piece& out) {
  // A NUL byte would end the C strings strtod / strtoll read, silently
  // accepting "1\0garbage" as "1": refused where it is, before anything else.
  if (const void* nul = std::memchr(s, '\0', static_cast<std::size_t>(e - s)))
    fail_at(line, static_cast<std::size_t>(static_cast<const char*>(nul) - s) + 1,
            "NUL byte in a text file");
  const char* p = s;
  while (p < e && is_space(*p)) ++p;
  if (p == e) return;  // blank line
  const auto column_of = [s](const char* t) { return static_cast<std::size_t>(t - s) + 1; };
  const auto token_end = [e](const char* t) {
    while (t < e && !is_space(*t)) ++t;
    return t;
  };
  std::int32_t label = 0;
  {
    long long v = 0;
    const auto r = std::from_chars(p, e, v);
    if (r.ec == std::errc() && (r.ptr == e || is_space(*r.ptr)) && v >= -2147483647LL &&
        v <= 2147483647LL) {
      label = static_cast<std::int32_t>(v);
      p = r.ptr;
    } else {
      const char* t = token_end(p);
      label = slow_label(std::string(p, t), line, column_of(p));
      p = t;
    }
  }
  std::int64_t last = 0;
  for (;;) {
    while (p < e && is_space(*p)) ++p;
    if (p == e) break;
    const char* t = p;
    std::int64_t index = 0;
    const char* q = t;
    // At most 18 digits: no overflow; longer ones go the slow way.
    while (q < e && q - t < 18 && static_cast<unsigned>(*q - '0') < 10u) {
      index = index * 10 + (*q - '0');
      ++q;
    }
    if (q > t && q < e && *q == ':' && index >= 1) {
      check_index(index, last, st, line, column_of(t));
      double value = 0;
      const auto r = std::from_chars(q + 1, e, value);
      const char* end = r.ec == std::errc() ? r.ptr : nullptr;
      if (end != nullptr && (end == e || is_space(*end))) {
        if (!finite_in_float(value))
          fail_at(line, column_of(q + 1),
                  "feature value " + detail::excerpt(std::string(q + 1, end)) +
                      " is not finite in float32");
        out.cols.push_back(static_cast<std::int32_t>(index - 1));
        out.values.push_back(static_cast<float>(value));
        last = index;
        p = end;
        continue;
      }
    }
    const char* te = token_end(t);
    float value = 0;
    slow_feature(std::string(t, te), last, st, line, column_of(t), index, value);
    out.cols.push_back(static_cast<std::int32_t>(index - 1));
    out.values.push_back(value);
    last = index;
    p = te;
  }
  if (last > out.max_index) {  // indices increase: the row's largest is its last
    out.max_index = last;
    out.max_index_line = line;
  }
  out.row_end.push_back(static_cast<std::int64_t>(out.cols.size()));
  out.labels.push_back(label);
}

// The lines of [b, e): complete lines ending in '\n', the last one possibly
// without (the end of the input). Errors are kept in the piece, not thrown, so
// that the caller reports the first one of the first chunk that has one.
void parse_piece(const char* b, const char* e, const Settings& st, Piece& out) {
  try {
    // A feature takes 4 bytes at least ("1:1" and a separator): room for all of them
    // at once, so the arrays never move (pages never written are never touched).
    const auto most = static_cast<std::size_t>(e - b) / 4 + 2;
    out.cols.reserve(most);
    out.values.reserve(most);
    const char* p = b;
    while (p < e) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(e - p)));
      const char* line_end = nl != nullptr ? nl : e;
      ++out.lines;
      parse_line(p, line_end, out.lines, st, out);
      p = nl != nullptr ? nl + 1 : e;
    }
  } catch (LineError& err) {
    out.failed = true;
    out.error = std::move(err);
  } catch (...) {
    out.failed = true;
    out.other = std::current_exception();
  }
}

// The parsed text: CSR rows and labels, and where the largest index was.
struct Parsed {
  CsrMatrix x;
  std::vector<std::int32_t> labels;
  std::int64_t max_index = 0;
  std::int64_t max_index_line = 0;
  std::size_t size_hint = 0;  // the input's bytes when known, else 0
};

// Parses the whole lines buf[0, len) as lines line_base + 1, ...; appends them to
// out and returns the number of lines. `alongside` (may be empty) runs as one more
// task of the same parallel loop: the read of the next block.
std::int64_t parse_block(const char* buf, std::size_t len, std::int64_t line_base,
                         const std::string& name, const Settings& st,
                         const LibsvmReadTuning& tuning, const std::function<void()>& alongside,
                         Parsed& out) {
  std::int64_t chunks = tuning.chunks;
  if (chunks <= 0) {
    // About 1 MiB or more per chunk, 8 chunks per thread at most (the pool hands
    // them out dynamically: a busy core takes fewer).
    const std::int64_t by_size = static_cast<std::int64_t>(len >> 20) + 1;
    chunks = std::min<std::int64_t>(by_size, std::int64_t{8} * cpu_threads());
  }
  if (len == 0) chunks = 0;
  std::vector<std::size_t> cut(static_cast<std::size_t>(chunks) + 1, len);
  cut[0] = 0;
  for (std::int64_t c = 1; c < chunks; ++c) {
    std::size_t at = static_cast<std::size_t>(static_cast<double>(len) * double(c) / double(chunks));
    at = std::max(at, cut[static_cast<std::size_t>(c - 1)]);
    const void* nl = at < len ? std::memchr(buf + at, '\n', len - at) : nullptr;
    cut[static_cast<std::size_t>(c)] = nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - buf) + 1 : len;
  }
  std::vector<Piece> pieces(static_cast<std::size_t>(chunks));
  const std::int64_t first = alongside ? 1 : 0;
  std::exception_ptr alongside_error;
  parallel_chunks(chunks + first, [&](std::int64_t task) {
    if (task < first) {
      try {
        alongside();
      } catch (...) {
        alongside_error = std::current_exception();
      }
      return;
    }
    const auto i = static_cast<std::size_t>(task - first);
    parse_piece(buf + cut[i], buf + cut[i + 1], st, pieces[i]);
  });
  std::int64_t lines = 0;
  std::size_t nnz = 0;
  std::size_t rows = 0;
  for (const Piece& piece : pieces) {
    nnz += piece.cols.size();
    rows += piece.labels.size();
  }
  // Room for this block; when the input's size is known, for all of it at this
  // block's density (2% over); growing by half at least when that guess was short.
  const auto make_room = [&](auto& v, std::size_t add) {
    if (v.capacity() >= v.size() + add) return;
    std::size_t guess = 0;
    if (out.size_hint > 0 && len > 0)
      guess = static_cast<std::size_t>(double(add) / double(len) * double(out.size_hint) * 1.02);
    v.reserve(std::max({v.size() + add, guess, v.capacity() + v.capacity() / 2}));
  };
  make_room(out.x.col_idx, nnz);
  make_room(out.x.values, nnz);
  make_room(out.x.row_ptr, rows);
  make_room(out.labels, rows);
  for (Piece& piece : pieces) {
    if (piece.failed) {
      if (piece.other) std::rethrow_exception(piece.other);
      throw IoError(detail::concat(name, ":", line_base + lines + piece.error.line, ":",
                                   piece.error.column, ": ", piece.error.what));
    }
    const std::int64_t base = out.x.nnz();
    out.x.col_idx.insert(out.x.col_idx.end(), piece.cols.begin(), piece.cols.end());
    out.x.values.insert(out.x.values.end(), piece.values.begin(), piece.values.end());
    for (std::int64_t end : piece.row_end) out.x.row_ptr.push_back(base + end);
    out.x.rows += static_cast<std::int64_t>(piece.row_end.size());
    out.labels.insert(out.labels.end(), piece.labels.begin(), piece.labels.end());
    if (piece.max_index > out.max_index) {
      out.max_index = piece.max_index;
      out.max_index_line = line_base + lines + piece.max_index_line;
    }
    lines += piece.lines;
    piece = Piece();  // its memory back before the next piece is copied
  }
  if (alongside_error) std::rethrow_exception(alongside_error);
  return lines;
}

// A growable read buffer, not zero-filled.
struct ReadBuffer {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  std::size_t len = 0;
  void reserve(std::size_t bytes) {
    if (capacity >= bytes) return;
    std::unique_ptr<char[]> bigger(new char[bytes]);
    if (len > 0) std::memcpy(bigger.get(), data.get(), len);
    data = std::move(bigger);
    capacity = bytes;
  }
};

// The bytes from the read position to the end when `in` can tell (a file, a string
// stream), else 0.
std::size_t bytes_left(std::istream& in) {
  const std::istream::pos_type at = in.tellg();
  if (at == std::istream::pos_type(-1)) return 0;
  in.seekg(0, std::ios::end);
  const std::istream::pos_type end = in.tellg();
  in.seekg(at);
  if (end == std::istream::pos_type(-1) || !in) {
    in.clear(in.rdstate() & ~std::ios::failbit);
    in.seekg(at);
    return 0;
  }
  return end > at ? static_cast<std::size_t>(end - at) : 0;
}

Parsed parse(std::istream& in, const std::string& name, std::int64_t num_features,
             std::size_t max_dense_bytes, const LibsvmReadTuning& tuning) {
  const Settings st{num_features, max_dense_bytes};
  Parsed out;
  out.size_hint = bytes_left(in);
  const std::size_t block = std::max<std::size_t>(tuning.block_bytes, 1);
  // Reads start small (a short input costs no 64 MiB) and double up to a block. While
  // one block is parsed, the next one is read into the other buffer (a task of the
  // same parallel loop), after the unfinished line the block ends with.
  std::size_t step = std::min<std::size_t>(block, std::size_t{1} << 16);
  ReadBuffer buffers[2];
  int cur = 0;
  std::int64_t line_no = 0;
  const auto fill = [&in](ReadBuffer& b, std::size_t bytes) {
    b.reserve(b.len + bytes);
    const std::size_t want = b.capacity - b.len;
    in.read(b.data.get() + b.len, static_cast<std::streamsize>(want));
    const auto got = static_cast<std::size_t>(in.gcount());
    b.len += got;
    return got < want;  // the end of the input
  };
  bool eof = fill(buffers[0], step);
  if (in.bad()) throw IoError(detail::concat(name, ": read error after line ", line_no));
  for (;;) {
    ReadBuffer& b = buffers[cur];
    std::size_t whole = b.len;  // bytes of whole lines
    if (!eof) {
      const void* nl = ::memrchr(b.data.get(), '\n', b.len);
      if (nl == nullptr) {  // one line longer than what is in memory: read on
        step = std::min(block, 2 * step);
        eof = fill(b, std::max(step, b.len));
        if (in.bad()) throw IoError(detail::concat(name, ": read error after line ", line_no));
        continue;
      }
      whole = static_cast<std::size_t>(static_cast<const char*>(nl) - b.data.get()) + 1;
      step = std::min(block, 2 * step);
    }
    ReadBuffer& next = buffers[1 - cur];
    bool next_eof = true;
    std::function<void()> read_next;
    if (!eof)
      read_next = [&] {
        next.len = 0;
        next.reserve(b.len - whole + step);
        next.len = b.len - whole;
        if (next.len > 0) std::memcpy(next.data.get(), b.data.get() + whole, next.len);
        next_eof = fill(next, step);
      };
    line_no += parse_block(b.data.get(), whole, line_no, name, st, tuning, read_next, out);
    if (eof) break;
    if (in.bad()) throw IoError(detail::concat(name, ": read error after line ", line_no));
    eof = next_eof;
    cur = 1 - cur;
  }
  MINIDL_CHECK(out.x.rows > 0, IoError, name, ": no samples");
  const std::int64_t d = num_features > 0 ? num_features : out.max_index;
  MINIDL_CHECK(d > 0, IoError, name, ": no features in any sample");
  out.x.cols = d;
  return out;
}

LibsvmData parse_dense(std::istream& in, const std::string& name, std::int64_t num_features,
                       std::size_t max_dense_bytes, const LibsvmReadTuning& tuning) {
  const Parsed p =
      parse(in, name, num_features, std::max<std::size_t>(max_dense_bytes, 1), tuning);
  const std::int64_t n = p.x.rows;
  const std::int64_t d = p.x.cols;
  const double bytes = double(n) * double(d) * 4.0;
  if (bytes > double(max_dense_bytes)) {
    const std::string why =
        num_features > 0 ? detail::concat("num_features ", num_features)
                         : detail::concat("the largest feature index, ", p.max_index, " (line ",
                                          p.max_index_line, ")");
    throw IoError(detail::concat(name, ": ", n, " samples x ", d, " features (", why,
                                 ") would take ", detail::gib_text(bytes), " as a dense float32 matrix, more "
                                 "than the limit of ", detail::gib_text(double(max_dense_bytes)),
                                 " (max_dense_bytes)"));
  }
  return {csr_to_dense(p.x, max_dense_bytes), from_vector(p.labels, {n})};
}

}  // namespace

LibsvmData parse_libsvm(std::istream& in, const std::string& name, std::int64_t num_features,
                        std::size_t max_dense_bytes, const LibsvmReadTuning& tuning) {
  MINIDL_CHECK(num_features >= 0, ValueError, "parse_libsvm: num_features ", num_features, " < 0");
  try {
    return parse_dense(in, name, num_features, max_dense_bytes, tuning);
  } catch (const std::bad_alloc&) {
    throw IoError(detail::concat(name, ": out of host memory while reading LIBSVM data (limit ",
                                 detail::gib_text(double(max_dense_bytes)),
                                 " for the dense matrix; the machine had less free)"));
  }
}

LibsvmData read_libsvm(const std::string& path, std::int64_t num_features,
                       std::size_t max_dense_bytes) {
  std::ifstream in(path, std::ios::binary);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading: ", errno_text(errno));
  return parse_libsvm(in, path, num_features, max_dense_bytes);
}

LibsvmCsrData parse_libsvm_csr(std::istream& in, const std::string& name,
                              std::int64_t num_features, const LibsvmReadTuning& tuning) {
  MINIDL_CHECK(num_features >= 0 && num_features <= std::numeric_limits<std::int32_t>::max(),
               ValueError, "parse_libsvm_csr: num_features ", num_features,
               " is outside [0, 2147483647]");
  try {
    Parsed p = parse(in, name, num_features, 0, tuning);
    const std::int64_t n = p.x.rows;
    return {std::move(p.x), from_vector(p.labels, {n})};
  } catch (const std::bad_alloc&) {
    throw IoError(detail::concat(name, ": out of host memory while reading LIBSVM data"));
  }
}

LibsvmCsrData read_libsvm_csr(const std::string& path, std::int64_t num_features) {
  std::ifstream in(path, std::ios::binary);
  MINIDL_CHECK(in.is_open(), IoError, path, ": cannot open for reading: ", errno_text(errno));
  return parse_libsvm_csr(in, path, num_features);
}

void write_libsvm(const std::string& path, const Tensor& x, const Tensor& y) {
  MINIDL_CHECK(x.rank() == 2, ShapeError, "write_libsvm: x must be [n, d], got ", x.shape());
  MINIDL_CHECK(y.rank() == 1 && y.size(0) == x.size(0), ShapeError,
               "write_libsvm: y must be [n] for x ", x.shape(), ", got ", y.shape());
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<std::int32_t> yv = y.to_vector<std::int32_t>();
  const std::int64_t n = x.size(0);
  const std::int64_t d = x.size(1);
  AtomicFile f(path, "write_libsvm");
  // Rows formatted in parallel, a batch at a time, and written in order.
  text::write_rows(f, n, 16 * d + 8, [&](std::int64_t i, std::string& out) {
    text::put_int(out, yv[static_cast<std::size_t>(i)]);
    const float* row = xv.data() + i * d;
    for (std::int64_t j = 0; j < d; ++j)
      if (row[j] != 0.0f) {
        out += ' ';
        text::put_int(out, j + 1);
        out += ':';
        text::put_float9(out, row[j]);
      }
    out += '\n';
  });
  f.commit();
}

}  // namespace minidl::svm
