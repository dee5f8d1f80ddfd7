#include "shape.hpp"

#include <limits>
#include <sstream>

#include "error.hpp"

namespace minidl {

template <class It>
void Shape::assign(It first, It last, std::size_t count) {
  MINIDL_CHECK(count <= static_cast<std::size_t>(kMaxRank), ShapeError, "Shape: rank ", count,
               " exceeds the maximum rank ", kMaxRank);
  rank_ = static_cast<int>(count);
  numel_ = 1;
  int i = 0;
  for (It it = first; it != last; ++it, ++i) {
    const std::int64_t d = *it;
    dims_[static_cast<std::size_t>(i)] = d;
    if (d < 0) {
      std::string given = "[";
      for (It g = first; g != last; ++g) given += (g == first ? "" : ", ") + std::to_string(*g);
      throw ShapeError(
          detail::concat("Shape: extent ", d, " of axis ", i, " is negative in ", given, "]"));
    }
    if (d != 0 && numel_ > std::numeric_limits<std::int64_t>::max() / d) {
      throw ShapeError(detail::concat("Shape: ", str(), " has more elements than int64 can count"));
    }
    numel_ *= d;
  }
}

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  assign(dims.begin(), dims.end(), dims.size());
}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  assign(dims.begin(), dims.end(), dims.size());
}

std::int64_t Shape::dim(int i) const {
  const int j = i < 0 ? i + rank_ : i;
  MINIDL_CHECK(j >= 0 && j < rank_, ShapeError, "Shape::dim: axis ", i, " is out of range for ",
               str(), " (rank ", rank_, ")");
  return dims_[static_cast<std::size_t>(j)];
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i) {
    if (dims_[static_cast<std::size_t>(i)] != other.dims_[static_cast<std::size_t>(i)])
      return false;
  }
  return true;
}

std::string Shape::str() const {
  std::ostringstream out;
  out << '[';
  for (int i = 0; i < rank_; ++i) out << (i ? ", " : "") << dims_[static_cast<std::size_t>(i)];
  out << ']';
  return out.str();
}

}  // namespace minidl
