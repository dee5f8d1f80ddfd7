// The target table, the invariant check and the scratch file (fuzz/targets.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "../targets.hpp"

namespace minidl::fuzz {

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
    {"idx", idx_reader},
    {"safetensors", safetensors_round_trip},
    {"libsvm_data", libsvm_data},
    {"libsvm_model", libsvm_model},
    {"checkpoint", checkpoint_step},
    {"proc_stat", proc_stat},
    {"trainer_resume", trainer_resume},
#if MINIDL_FUZZ_COMMAND_LINE
    {"command_line", command_line},
#endif
  };
  return all;
}

void violated(const std::string& what) {
  std::fprintf(stderr, "minidl fuzz: invariant violated: %s\n", what.c_str());
  std::abort();
}

ScratchFile::ScratchFile(const std::string& tag) {
  const char* dir = std::getenv("TMPDIR");
  path_ = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/minidl-fuzz-" +
          std::to_string(::getpid()) + "-" + tag;
}

ScratchFile::~ScratchFile() { ::unlink(path_.c_str()); }

const std::string& ScratchFile::write(const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("scratch file " + path_ + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("scratch file " + path_ + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return path_;
}

}  // namespace minidl::fuzz
