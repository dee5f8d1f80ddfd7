#include <iostream>

#include <minidl/minidl.hpp>

int main() {
  minidl::Generator gen(7);
  const minidl::Tensor t = minidl::uniform({3, 4}, 0.0f, 1.0f, gen);
  const minidl::Tensor u = t.reshape({4, 3}).clone();
  if (u.to_vector<float>() != t.to_vector<float>()) return 1;
  std::cout << "minidl " << minidl::version() << ", " << t.description() << "\nconsumer ok\n";
  return 0;
}
