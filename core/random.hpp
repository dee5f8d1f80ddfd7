// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw,
// "Parallel Random Numbers: As Easy as 1, 2, 3", SC'11).
//
// Element i of a draw is a pure function of (seed, offset, i), so the CPU loop
// and the CUDA kernel produce the same numbers in any order and any grid shape:
//   counter = {lo(i / 4), hi(i / 4), lo(offset), hi(offset)}, key = {lo(seed), hi(seed)},
//   and element i takes word i % 4 of philox(counter, key).
// Uniform floats are bit-identical on both devices. Normal floats come from
// Box-Muller computed in double and rounded once to float; CUDA's double log/sin/cos
// are within 2 ulp of glibc's, so after rounding to float the two devices agree
// exactly in all but (very rarely) the last float bit.
#pragma once

#include <cmath>
#include <cstdint>

#include "macros.hpp"

namespace minidl {

struct Philox4x32 {
  std::uint32_t v[4];
};

namespace philox_detail {
constexpr std::uint32_t kM0 = 0xD2511F53u;
constexpr std::uint32_t kM1 = 0xCD9E8D57u;
constexpr std::uint32_t kW0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kW1 = 0xBB67AE85u;  // sqrt(3) - 1

MINIDL_HD MINIDL_INLINE void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi,
                                     std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}
}  // namespace philox_detail

/// Philox4x32 with 10 rounds: 128 random bits from a 128-bit counter and a 64-bit key.
MINIDL_HD MINIDL_INLINE Philox4x32 philox4x32_10(Philox4x32 ctr, std::uint32_t k0,
                                                 std::uint32_t k1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, ctr.v[0], hi0, lo0);
    mulhilo(kM1, ctr.v[2], hi1, lo1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

/// The four words for block `block` (elements 4*block .. 4*block+3) of draw (seed, offset).
MINIDL_HD MINIDL_INLINE Philox4x32 philox_block(std::uint64_t seed, std::uint64_t offset,
                                                std::uint64_t block) {
  const Philox4x32 ctr{{static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32),
                        static_cast<std::uint32_t>(offset),
                        static_cast<std::uint32_t>(offset >> 32)}};
  return philox4x32_10(ctr, static_cast<std::uint32_t>(seed),
                       static_cast<std::uint32_t>(seed >> 32));
}

/// A float in [0, 1) from the top 24 bits: exact, identical on every device.
MINIDL_HD MINIDL_INLINE float uniform01(std::uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

/// low + (high - low) * u with one rounding (explicit fma, so nvcc's contraction
/// and the host compiler's lack of it cannot make the devices differ).
MINIDL_HD MINIDL_INLINE float uniform_from_bits(std::uint32_t bits, float low, float high) {
  return fmaf(high - low, uniform01(bits), low);
}

/// Box-Muller on a pair of words: element 0 or 1 (`second`) of the normal pair.
MINIDL_HD MINIDL_INLINE float normal_from_bits(std::uint32_t a, std::uint32_t b, bool second,
                                               float mean, float stddev) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double u1 = (static_cast<double>(a) + 0.5) * (1.0 / 4294967296.0);  // (0, 1): log is finite
  const double u2 = static_cast<double>(b) * (1.0 / 4294967296.0);
  const double r = sqrt(-2.0 * log(u1));
  const double z = second ? r * sin(kTwoPi * u2) : r * cos(kTwoPi * u2);
  return static_cast<float>(fma(static_cast<double>(stddev), z, static_cast<double>(mean)));
}

/// A seeded stream of draws. Each call to next() hands out a fresh offset, so two
/// tensors filled from one Generator get independent numbers, and the sequence is
/// reproducible from the seed (save seed() and offset() to resume it).
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_offset(std::uint64_t offset) { offset_ = offset; }

  struct Draw {
    std::uint64_t seed;
    std::uint64_t offset;
  };
  /// The (seed, offset) for one draw; advances the offset.
  Draw next() { return Draw{seed_, offset_++}; }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

}  // namespace minidl
