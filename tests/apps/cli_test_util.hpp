// Shared by the tests that run minidl's programs (cli_test.cpp, dist_cli_test.cpp,
// svm_tools_test.cpp): a scratch folder, a tiny Fashion-MNIST-shaped data folder,
// and runners that capture the exit status, stdout and stderr.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

namespace minidl::train {

namespace fs = std::filesystem;

class Folder {
 public:
  Folder() {
    std::string pattern = (fs::temp_directory_path() / "minidl-cli-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
    fs::permissions(path_, fs::perms::all);  // the "nobody" runs write their output here
  }
  ~Folder() {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(path_, ec))
      fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  Folder(const Folder&) = delete;
  Folder& operator=(const Folder&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Plain (not gzip) IDX files: n 28x28 images whose mean brightness follows the
// label, and n labels cycling through `classes`.
inline void write_fashion_split(const std::string& dir, const std::string& prefix, std::uint32_t n,
                         std::uint32_t classes = 10) {
  std::vector<std::uint8_t> images{0, 0, 8, 3}, labels{0, 0, 8, 1};
  put_be32(images, n);
  put_be32(images, 28);
  put_be32(images, 28);
  put_be32(labels, n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t label = i % classes;
    labels.push_back(static_cast<std::uint8_t>(label));
    for (std::uint32_t p = 0; p < 28 * 28; ++p)
      images.push_back(static_cast<std::uint8_t>((label * 25 + (p * 7 + i * 13) % 17) % 256));
  }
  std::ofstream(dir + "/" + prefix + "-images-idx3-ubyte", std::ios::binary)
      .write(reinterpret_cast<const char*>(images.data()), static_cast<std::streamsize>(images.size()));
  std::ofstream(dir + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary)
      .write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
}

inline std::string data_folder(const Folder& f, std::uint32_t train = 60, std::uint32_t test = 20) {
  const std::string dir = f.file("data");
  fs::create_directories(dir);
  write_fashion_split(dir, "train", train);
  write_fashion_split(dir, "t10k", test);
  return dir;
}

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
  long peak_rss_kb = -1;  // the program's peak resident memory (wait4's ru_maxrss)
};

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs the program args[0] with the rest of `args` (as the user "nobody" when
// as_nobody and this process is root), stdout and stderr captured in files of
// `f`, with OMP_NUM_THREADS=1, CUDA disabled and `env` (name, value) set (after
// those two, so it can override them), in the folder `cwd` when not empty.
inline Result run_program(const Folder& f, std::vector<std::string> args, bool as_nobody = false,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          const std::string& cwd = "") {
  static int counter = 0;
  const std::string out = f.file("stdout" + std::to_string(counter)),
                    err = f.file("stderr" + std::to_string(counter));
  ++counter;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(124);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::setenv("MINIDL_DISABLE_CUDA", "1", 1);
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    if (as_nobody && ::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(125);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  Result r;
  int status = 0;
  rusage usage{};
  if (pid > 0 && ::wait4(pid, &status, 0, &usage) == pid) {
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.peak_rss_kb = usage.ru_maxrss;
  }
  r.out = read_all(out);
  r.err = read_all(err);
  return r;
}

// A program of this build: the path CMake compiled in, or the program of that name in
// $MINIDL_BIN_DIR when it is set (tools/gpu-runner.sh sets it to the GPU bundle's bin/: the
// build folder the paths name is not on the GPU machine).
inline std::string program_path(const std::string& built) {
  const char* dir = std::getenv("MINIDL_BIN_DIR");
  if (dir == nullptr || *dir == '\0') return built;
  return std::string(dir) + "/" + built.substr(built.rfind('/') + 1);
}

// Runs minidl-train with `args`, as run_program does.
inline Result run(const Folder& f, std::vector<std::string> args, bool as_nobody = false,
                  const std::vector<std::pair<std::string, std::string>>& env = {}) {
  args.insert(args.begin(), program_path(MINIDL_TRAIN_EXE));
  return run_program(f, std::move(args), as_nobody, env);
}

// Runs `mpirun --oversubscribe -np <np> minidl-train <args>` (as root too: the
// OMPI_ALLOW_RUN_AS_ROOT pair), as run_program does. `per_rank_dirs`: one working
// folder per rank (MPMD: `-np 1 -wdir A prog : -np 1 -wdir B prog`), so that a
// relative output path of rank r lands in per_rank_dirs[r].
inline Result run_mpi(const Folder& f, int np, const std::vector<std::string>& args,
                      const std::vector<std::pair<std::string, std::string>>& env = {},
                      const std::vector<std::string>& per_rank_dirs = {}) {
#ifdef MINIDL_MPIEXEC
  std::vector<std::string> argv{MINIDL_MPIEXEC, "--oversubscribe"};
  auto add_program = [&](int n, const std::string& dir) {
    argv.insert(argv.end(), {"-np", std::to_string(n)});
    if (!dir.empty()) argv.insert(argv.end(), {"-wdir", dir});
    argv.push_back(program_path(MINIDL_TRAIN_EXE));
    argv.insert(argv.end(), args.begin(), args.end());
  };
  if (per_rank_dirs.empty()) {
    add_program(np, "");
  } else {
    for (int r = 0; r < np; ++r) {
      if (r > 0) argv.push_back(":");
      add_program(1, per_rank_dirs[static_cast<std::size_t>(r)]);
    }
  }
  std::vector<std::pair<std::string, std::string>> all{{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                                       {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
  // ASan build: Open MPI never frees some of its allocations. Suppress those (Open
  // MPI's libraries only, tests/dist/lsan_openmpi.supp; the slow unwinder so that
  // the stacks reach them through its unloaded components); minidl's own leaks
  // are still reported. Without the file, leak checking is off under mpirun (the
  // single-process CLI tests still check minidl-train). No effect without ASan.
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string asan_options = asan != nullptr ? std::string(asan) + ":" : std::string();
#ifdef MINIDL_LSAN_OPENMPI_SUPP
  asan_options += "fast_unwind_on_malloc=0";
  all.push_back({"LSAN_OPTIONS", std::string("suppressions=") + MINIDL_LSAN_OPENMPI_SUPP});
#else
  asan_options += "detect_leaks=0";
#endif
  all.push_back({"ASAN_OPTIONS", asan_options});
  all.insert(all.end(), env.begin(), env.end());
  return run_program(f, argv, false, all);
#else
  (void)f, (void)np, (void)args, (void)env, (void)per_rank_dirs;
  return Result{};
#endif
}

#ifdef MINIDL_MPIEXEC
// The build's mpirun may be missing where the tests run (the GPU machine has none).
#define MINIDL_SKIP_WITHOUT_MPI()                                                          \
  do {                                                                                     \
    if (::access(MINIDL_MPIEXEC, X_OK) != 0) GTEST_SKIP() << "no " MINIDL_MPIEXEC " here"; \
  } while (0)
#else
#define MINIDL_SKIP_WITHOUT_MPI() GTEST_SKIP() << "built without MPI (no mpirun to run 2 ranks)"
#endif

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "lacks \"" << (needle) << "\" in:\n" << (haystack)

inline std::vector<std::string> small(const std::string& data, const Folder& f,
                               std::vector<std::string> more = {}) {
  std::vector<std::string> a{"--data", data, "--out", f.file("out"), "--no-progress",
                             "--device", "cpu"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

inline const std::vector<std::string> kTinyMlp{"--hidden", "8", "--epochs", "1", "--batch", "16"};

inline std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace minidl::train
