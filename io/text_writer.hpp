// Large text files written fast: LIBSVM data, model files and predictions.
//
// Numbers go through std::to_chars, which the standard defines as printf's in the "C"
// locale: to_chars(first, last, v, chars_format::general, p) writes exactly the bytes
// of printf("%.<p>g", v), without printf's format parsing and locale look-ups (2-3x
// faster here), so the files are byte for byte what the printf code wrote
// (tests/io/text_writer_test.cpp compares them on random values).
//
// Rows are formatted in parallel (core/parallel.hpp), a batch of chunks at a time, and
// each chunk is written with one AtomicFile::write, in row order: the file is the same
// whatever the thread count, and the memory held is a batch, not the file.
//
//   minidl::AtomicFile f(path, "save");
//   minidl::text::write_rows(f, n, 40, [&](std::int64_t i, std::string& out) {
//     minidl::text::put_int(out, label[i]);
//     out += '\n';
//   });
//   f.commit();
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "atomic_file.hpp"

namespace minidl::text {

/// Appends printf("%lld", v).
inline void put_int(std::string& out, long long v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// Appends printf("%.<precision>g", v) (precision in [1, 17]; "inf", "-nan" as printf).
inline void put_g(std::string& out, double v, int precision) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, precision);
  MINIDL_CHECK(r.ec == std::errc(), ValueError, "text::put_g: cannot format ", v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// Appends printf("%.9g", double(v)): 9 significant digits, which read back (strtod,
/// then to float) give v exactly.
inline void put_float9(std::string& out, float v) { put_g(out, double(v), 9); }

/// Calls format_row(i, out) for every row i in [0, rows), appending its text to `out`
/// (a string per chunk of rows, cleared between uses), in parallel, and writes the
/// chunks to `file` in row order. row_bytes is an estimate of a row's length, for the
/// chunk size (about 1 MiB per chunk). format_row must be safe to call concurrently
/// for different rows. An exception from format_row or from a write propagates (the
/// file is then not committed by the caller: the target keeps its old content).
template <class F>
void write_rows(AtomicFile& file, std::int64_t rows, std::int64_t row_bytes, F&& format_row) {
  if (rows <= 0) return;
  const std::int64_t per_chunk = grain_for(row_bytes, std::int64_t{1} << 20);
  const std::int64_t chunks_total = (rows + per_chunk - 1) / per_chunk;
  const std::int64_t batch = std::min<std::int64_t>(chunks_total, std::int64_t{4} * cpu_threads());
  std::vector<std::string> text(static_cast<std::size_t>(batch));
  for (std::int64_t first = 0; first < chunks_total; first += batch) {
    const std::int64_t count = std::min(batch, chunks_total - first);
    parallel_chunks(count, [&](std::int64_t c) {
      std::string& out = text[static_cast<std::size_t>(c)];
      out.clear();
      const std::int64_t begin = (first + c) * per_chunk;
      const std::int64_t end = std::min(rows, begin + per_chunk);
      for (std::int64_t i = begin; i < end; ++i) format_row(i, out);
    });
    for (std::int64_t c = 0; c < count; ++c)
      file.write(text[static_cast<std::size_t>(c)].data(), text[static_cast<std::size_t>(c)].size());
  }
}

}  // namespace minidl::text
