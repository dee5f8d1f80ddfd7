// Shape: the extents of a tensor, rank 0 (a scalar) to 8, row-major.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace minidl {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  /// Rank 0: a scalar with one element.
  Shape() = default;
  /// Requires: at most kMaxRank extents, each >= 0, and a product that fits int64.
  /// Throws ShapeError otherwise.
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);

  int rank() const { return rank_; }
  /// Number of elements: the product of the extents (1 for rank 0).
  std::int64_t numel() const { return numel_; }
  /// Extent of axis i; negative i counts from the end (-1 is the last axis).
  /// Throws ShapeError when i is out of range.
  std::int64_t dim(int i) const;
  std::int64_t operator[](int i) const { return dim(i); }
  std::vector<std::int64_t> dims() const { return {dims_.begin(), dims_.begin() + rank_}; }
  const std::int64_t* begin() const { return dims_.data(); }
  const std::int64_t* end() const { return dims_.data() + rank_; }

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

  /// "[2, 3, 4]"; "[]" for a scalar.
  std::string str() const;

 private:
  template <class It>
  void assign(It first, It last, std::size_t count);

  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
  std::int64_t numel_ = 1;
};

inline std::ostream& operator<<(std::ostream& out, const Shape& s) { return out << s.str(); }

}  // namespace minidl
