// Large text files written fast: LIBSVM data, model files and predictions.
//
// Numbers go through std::to_chars, which the standard defines as printf's in the "C"
// locale: to_chars(first, last, v, chars_format::general, p) writes exactly the bytes
// of printf("%.<p>g", v), without printf's format parsing and locale look-ups (2-3x
// faster here), so the files are byte for byte what the printf code wrote
// (tests/io/text_writer_test.cpp compares them on random values). float32 values, most
// of a LIBSVM file, take a faster exact path of their own (put_float9: the float's
// value as a 128-bit integer times a power of ten, rounded to 9 digits as printf does).
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
#include <cstring>
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

namespace detail {

__extension__ using u128 = unsigned __int128;  // __extension__: GCC and clang take it, -Wpedantic quiet

// 10^i and 5^i as 128-bit integers (10^38 and 5^55 are the largest that fit).
inline const u128* pow10_u128() {
  static const auto table = [] {
    struct T { u128 v[39]; } t{};
    t.v[0] = 1;
    for (int i = 1; i < 39; ++i) t.v[i] = t.v[i - 1] * 10;
    return t;
  }();
  return table.v;
}
inline const u128* pow5_u128() {
  static const auto table = [] {
    struct T { u128 v[56]; } t{};
    t.v[0] = 1;
    for (int i = 1; i < 56; ++i) t.v[i] = t.v[i - 1] * 5;
    return t;
  }();
  return table.v;
}

// printf("%.9g") of a finite non-zero float whose exact value M 2^E is an integer
// N times 10^dexp with N < 2^128 (|v| from about 1e-6 up, all of float32's range
// above): N rounded to 9 digits, half to even, as glibc's printf rounds the exact
// binary value. false: out of that range (the caller uses to_chars).
inline bool put_float9_exact(std::string& out, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const int biased = static_cast<int>((bits >> 23) & 0xFFu);
  std::uint64_t m = bits & 0x7FFFFFu;
  if (biased == 0xFF || (biased == 0 && m == 0)) return false;
  int e2 = biased == 0 ? -149 : biased - 150;
  if (biased != 0) m |= 0x800000u;
  const int tz = __builtin_ctzll(m);
  m >>= tz;
  e2 += tz;
  u128 n;
  int dexp = 0;  // value = n * 10^dexp
  if (e2 >= 0) {
    if (e2 > 103) return false;
    n = static_cast<u128>(m) << e2;
  } else {
    const int k = -e2;
    if (k > 55) return false;
    const u128 p5 = pow5_u128()[k];
    if (static_cast<u128>(m) > ~static_cast<u128>(0) / p5) return false;
    n = static_cast<u128>(m) * p5;
    dexp = -k;
  }
  const u128* p10 = pow10_u128();
  // Digits from the bit length (1233 / 4096 is just under log10(2): never too many),
  // then up to the right count.
  const auto hi64 = static_cast<std::uint64_t>(n >> 64);
  const int bit_length =
      hi64 != 0 ? 128 - __builtin_clzll(hi64) : 64 - __builtin_clzll(static_cast<std::uint64_t>(n));
  int digits = ((bit_length - 1) * 1233 >> 12) + 1;
  while (digits < 39 && n >= p10[digits]) ++digits;
  std::uint64_t q;
  if (digits > 9) {
    const int s = digits - 9;
    const u128 div = p10[s];
    u128 r;
    if (s <= 19) {
      // n < 10^9 div and div < 2^64: q and the remainder fit 64 bits (one divq).
      const auto d64 = static_cast<std::uint64_t>(div);
#if defined(__x86_64__)
      std::uint64_t rem;
      __asm__("divq %[d]"
              : "=a"(q), "=d"(rem)
              : "a"(static_cast<std::uint64_t>(n)), "d"(hi64), [d] "r"(d64));
      r = rem;
#else
      q = static_cast<std::uint64_t>(n / d64);
      r = n - static_cast<u128>(q) * d64;
#endif
    } else {
      q = static_cast<std::uint64_t>(n / div);
      r = n - static_cast<u128>(q) * div;
    }
    const u128 half = div >> 1;
    if (r > half || (r == half && (q & 1u) != 0)) ++q;
    dexp += s;
    if (q == 1000000000u) {  // 999999999.5 -> 1000000000: one digit more
      q = 100000000u;
      ++dexp;
    }
    digits = 9;
  } else {
    q = static_cast<std::uint64_t>(n);
  }
  // q has `digits` digits; the value is q 10^dexp; its decimal exponent:
  const int x = digits - 1 + dexp;
  char d[10];
  for (int i = digits - 1; i >= 0; --i) {
    d[i] = static_cast<char>('0' + q % 10);
    q /= 10;
  }
  int nd = digits;
  while (nd > 1 && d[nd - 1] == '0') --nd;  // %g drops trailing zeros
  char buf[32];
  int len = 0;
  if (bits >> 31) buf[len++] = '-';
  if (x < -4 || x >= 9) {
    buf[len++] = d[0];
    if (nd > 1) {
      buf[len++] = '.';
      for (int i = 1; i < nd; ++i) buf[len++] = d[i];
    }
    buf[len++] = 'e';
    buf[len++] = x < 0 ? '-' : '+';
    const int ax = x < 0 ? -x : x;
    if (ax >= 100) buf[len++] = static_cast<char>('0' + ax / 100);
    buf[len++] = static_cast<char>('0' + (ax / 10) % 10);
    buf[len++] = static_cast<char>('0' + ax % 10);
  } else if (x >= 0) {
    for (int i = 0; i <= x; ++i) buf[len++] = i < nd ? d[i] : '0';
    if (nd > x + 1) {
      buf[len++] = '.';
      for (int i = x + 1; i < nd; ++i) buf[len++] = d[i];
    }
  } else {
    buf[len++] = '0';
    buf[len++] = '.';
    for (int i = 0; i < -x - 1; ++i) buf[len++] = '0';
    for (int i = 0; i < nd; ++i) buf[len++] = d[i];
  }
  out.append(buf, static_cast<std::size_t>(len));
  return true;
}

}  // namespace detail

/// Appends printf("%.9g", double(v)): 9 significant digits, which read back (strtod,
/// then to float) give v exactly. An exact integer path for nearly all floats (a
/// 24-bit mantissa times 5^k in 128 bits, rounded half to even); to_chars for the rest.
///
/// Why by hand (the rule is to use the library where it does the job): measured
/// 2026-12-07 on this 2-core machine (load 2.6-5 from other builds at SCHED_IDLE),
/// against the same build with put_float9 = put_g(out, v, 9) (libstdc++ 12's to_chars
/// alone), interleaved runs under the benchmark lock: the write phase of
///   minidl-svm-train -q --timings -c 10 -g 0.00127551020238575 train_10000.txt m
/// (the 61.6 MB 10k Fashion-MNIST model) took a median 0.373 s (46 runs) with it and
/// 0.516 s (38 runs) without: 1.38x; save_libsvm_model alone on that model 0.388 s vs
/// 0.540 s: 1.39x. The same bytes either way. (The reader's hand-written Clinger path,
/// measured the same way, gained nothing over from_chars and was removed.)
inline void put_float9(std::string& out, float v) {
  if (v == 0.0f || !detail::put_float9_exact(out, v)) put_g(out, double(v), 9);
}

/// Calls format_row(i, out) for every row i in [0, rows), appending its text to `out`
/// (a string per chunk of rows, cleared between uses), in parallel, and writes the
/// chunks to `file` in row order. row_bytes is an estimate of a row's length, for the
/// chunk size (about 1 MiB per chunk). While a batch of chunks is formatted, the batch
/// before it is written, by one task of the same parallel loop. format_row must be
/// safe to call concurrently for different rows. An exception from format_row or from
/// a write propagates (the file is then not committed by the caller: the target keeps
/// its old content).
template <class F>
void write_rows(AtomicFile& file, std::int64_t rows, std::int64_t row_bytes, F&& format_row) {
  if (rows <= 0) return;
  const std::int64_t per_chunk = grain_for(row_bytes, std::int64_t{1} << 20);
  const std::int64_t chunks_total = (rows + per_chunk - 1) / per_chunk;
  const std::int64_t batch = std::min<std::int64_t>(chunks_total, std::int64_t{4} * cpu_threads());
  std::vector<std::string> text[2] = {std::vector<std::string>(static_cast<std::size_t>(batch)),
                                      std::vector<std::string>(static_cast<std::size_t>(batch))};
  int cur = 0;
  std::int64_t pending = 0;  // chunks of text[1 - cur] still to write
  const auto write_batch = [&file](const std::vector<std::string>& chunks, std::int64_t count) {
    for (std::int64_t c = 0; c < count; ++c)
      file.write(chunks[static_cast<std::size_t>(c)].data(), chunks[static_cast<std::size_t>(c)].size());
  };
  for (std::int64_t first = 0; first < chunks_total; first += batch) {
    const std::int64_t count = std::min(batch, chunks_total - first);
    std::vector<std::string>& out = text[cur];
    const std::vector<std::string>& done = text[1 - cur];
    const std::int64_t writer = pending > 0 ? 1 : 0;
    parallel_chunks(count + writer, [&](std::int64_t task) {
      if (task < writer) {
        write_batch(done, pending);
        return;
      }
      const std::int64_t c = task - writer;
      std::string& chunk = out[static_cast<std::size_t>(c)];
      chunk.clear();
      const std::int64_t begin = (first + c) * per_chunk;
      const std::int64_t end = std::min(rows, begin + per_chunk);
      for (std::int64_t i = begin; i < end; ++i) format_row(i, chunk);
    });
    pending = count;
    cur = 1 - cur;
  }
  write_batch(text[1 - cur], pending);
}

}  // namespace minidl::text
