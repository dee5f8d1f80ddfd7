// AtomicFile and the early output checks; the contracts are in the header.
#include "atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <utility>

#include "../core/error.hpp"

namespace minidl {
namespace {

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string parent_folder(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// What a non-regular file is, for "refusing to replace X: it is <kind>".
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The folder must exist, be a folder, and accept new files. access() asks the
// kernel with this process's real ids, which for minidl's programs are the
// effective ones; it also reports a read-only file system (EROFS) to root.
void check_folder(const std::string& folder, const std::string& who, const std::string& for_path) {
  struct stat st {};
  if (::stat(folder.c_str(), &st) != 0) {
    throw IoError(detail::concat(who, ": cannot write ", quoted(for_path), ": its folder ",
                                 quoted(folder), " is not usable: ", errno_text(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw IoError(detail::concat(who, ": cannot write ", quoted(for_path), ": ", quoted(folder),
                                 " is not a folder"));
  }
  if (::access(folder.c_str(), W_OK | X_OK) != 0) {
    throw IoError(detail::concat(who, ": cannot write ", quoted(for_path), ": no permission to "
                                 "create files in the folder ", quoted(folder), ": ",
                                 errno_text(errno)));
  }
}

// A name no other writer (thread, process) picks: the pid, a per-process counter
// and 64 random bits; O_EXCL still guards against a collision.
std::string temporary_name(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::uint64_t r = 0;
  try {
    std::random_device rd;
    r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } catch (const std::exception&) {
    r = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%u.%016llx", static_cast<long>(::getpid()),
                counter.fetch_add(1), static_cast<unsigned long long>(r));
  // The file's own name is kept only up to a length that leaves room for the suffix within
  // NAME_MAX (255 bytes on Linux's file systems): a legal 240-byte name must not fail with
  // "File name too long" for its temporary (found in review).
  const std::size_t slash = path.rfind('/');
  const std::size_t base = slash == std::string::npos ? 0 : slash + 1;
  const std::size_t keep = std::min<std::size_t>(path.size() - base, 255 - 64);
  return path.substr(0, base + keep) + suffix;
}

// MINIDL_TEST_KILL_IN_COMMIT (header), read at every commit (a getenv beside an
// fsync costs nothing). A malformed value is a ValueError, never a silently
// ignored hook (a crash test whose process never crashes would pass).
struct KillHook {
  long commit = 0;  // 1-based; 0 = no hook
  bool after_rename = false;
};

KillHook kill_hook() {
  KillHook h;
  const char* v = std::getenv("MINIDL_TEST_KILL_IN_COMMIT");
  if (v == nullptr || *v == '\0') return h;
  const char* number = v;
  if (std::strncmp(v, "before:", 7) == 0) {
    number = v + 7;
  } else if (std::strncmp(v, "after:", 6) == 0) {
    number = v + 6;
    h.after_rename = true;
  }
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(number, &end, 10);
  if (end == number || *end != '\0' || errno != 0 || n < 1)
    throw ValueError(detail::concat("MINIDL_TEST_KILL_IN_COMMIT is '", detail::excerpt(v),
                                    "': expected before:N or after:N with N >= 1"));
  h.commit = n;
  return h;
}

// Commits made while the hook is set, counted from 1 (so a forked child that sets
// it counts its own commits only).
std::atomic<long> g_hooked_commits{0};

// At the chosen commit and point, dies the way a killed process does: SIGKILL, no
// destructor, no unlink of the temporary file.
void maybe_kill_in_commit(const KillHook& h, long number, bool after_rename) {
  if (h.commit != 0 && number == h.commit && after_rename == h.after_rename)
    ::kill(::getpid(), SIGKILL);
}

}  // namespace

void check_replaceable(const std::string& path, const std::string& who) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    // Nothing there; or a file where a folder should be (ENOTDIR), or a folder
    // this process may not search (EACCES): creating the temporary file, or
    // check_writable's folder check, reports those with a better message.
    if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) return;
    throw IoError(detail::concat(who, ": cannot examine ", quoted(path), ": ", errno_text(errno)));
  }
  if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return;
  throw IoError(detail::concat(who, ": refusing to replace ", quoted(path), ": it is ",
                               file_kind(st.st_mode),
                               "; minidl writes only regular files (give a file path)"));
}

void check_writable(const std::string& path, const std::string& who) {
  MINIDL_CHECK(!path.empty(), ValueError, who, ": the output path is empty");
  MINIDL_CHECK(path.back() != '/', ValueError, who, ": ", quoted(path),
               " names a directory, not a file");
  check_replaceable(path, who);
  check_folder(parent_folder(path), who, path);
}

void check_writable_folder(const std::string& folder, const std::string& who) {
  MINIDL_CHECK(!folder.empty(), ValueError, who, ": the output folder is empty");
  std::string existing = folder;
  while (existing.size() > 1 && existing.back() == '/') existing.pop_back();
  // Climb to the nearest ancestor that exists: that one must be a writable folder.
  struct stat st {};
  while (::stat(existing.c_str(), &st) != 0) {
    // ENOTDIR: a file where a folder should be; the climb reaches it and says so.
    if (errno != ENOENT && errno != ENOTDIR) {
      throw IoError(detail::concat(who, ": cannot use the folder ", quoted(folder), ": ",
                                   quoted(existing), ": ", errno_text(errno)));
    }
    const std::string up = parent_folder(existing);
    if (up == existing) break;
    existing = up;
  }
  if (!S_ISDIR(st.st_mode)) {
    throw IoError(detail::concat(who, ": cannot use the folder ", quoted(folder), ": ",
                                 quoted(existing), " is not a folder"));
  }
  if (::access(existing.c_str(), W_OK | X_OK) != 0) {
    throw IoError(detail::concat(who, ": cannot write into the folder ", quoted(folder),
                                 ": no permission to create files in ", quoted(existing), ": ",
                                 errno_text(errno)));
  }
}

AtomicFile::AtomicFile(std::string path, std::string who)
    : path_(std::move(path)), who_(std::move(who)) {
  MINIDL_CHECK(!path_.empty(), ValueError, who_, ": the path is empty");
  MINIDL_CHECK(path_.back() != '/', ValueError, who_, "(", quoted(path_),
               "): the path names a directory");
  check_replaceable(path_, who_ + "(" + quoted(path_) + ")");
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_ = temporary_name(path_);
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      const int err = errno;
      temp_.clear();  // nothing to remove
      fail("cannot create the temporary file", err);
    }
    file_ = ::fdopen(fd, "wb");
    if (file_ == nullptr) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp_.c_str());
      temp_.clear();
      fail("cannot open a stream on the temporary file", err);
    }
    return;
  }
  temp_.clear();
  throw IoError(detail::concat(who_, "(", quoted(path_),
                               "): cannot find an unused temporary file name"));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t bytes) {
  MINIDL_CHECK(file_ != nullptr, ValueError, who_, "(", quoted(path_),
               "): write after commit");
  if (bytes == 0) return;
  if (std::fwrite(data, 1, bytes, file_) != bytes) fail("cannot write the temporary file", errno);
}

void AtomicFile::print(const char* format, ...) {
  MINIDL_CHECK(file_ != nullptr, ValueError, who_, "(", quoted(path_),
               "): write after commit");
  std::va_list args;
  va_start(args, format);
  const int n = std::vfprintf(file_, format, args);
  const int err = errno;
  va_end(args);
  if (n < 0) fail("cannot write the temporary file", err);
}

// fflush hands the bytes to the kernel, fsync puts them on disk before the rename
// makes them visible under the target's name: without it a crash could leave a
// renamed but empty file. fclose can report a deferred write error (NFS).
void AtomicFile::commit() {
  MINIDL_CHECK(file_ != nullptr, ValueError, who_, "(", quoted(path_), "): commit twice");
  if (std::ferror(file_) != 0) fail("cannot write the temporary file", EIO);
  if (std::fflush(file_) != 0) fail("cannot flush the temporary file", errno);
  if (::fsync(::fileno(file_)) != 0) fail("cannot fsync the temporary file", errno);
  const int closed = std::fclose(file_);
  const int close_err = errno;
  file_ = nullptr;
  if (closed != 0) fail("cannot close the temporary file", close_err);
  // Again just before the rename: the target may have changed while writing.
  check_replaceable(path_, who_ + "(" + quoted(path_) + ")");
  const KillHook hook = kill_hook();
  const long number = hook.commit != 0 ? g_hooked_commits.fetch_add(1) + 1 : 0;
  maybe_kill_in_commit(hook, number, false);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    fail("cannot rename the temporary file over the target", errno);
  }
  committed_ = true;
  sync_folder();
  maybe_kill_in_commit(hook, number, true);
}

void AtomicFile::fail(const char* what, int err) const {
  throw IoError(detail::concat(who_, "(", quoted(path_), "): ", what,
                               temp_.empty() ? "" : " " + quoted(temp_), ": ", errno_text(err),
                               "; the previous file, if any, is unchanged"));
}

// The rename is durable only once the folder's entry is: fsync the folder. File
// systems that cannot sync a folder say EINVAL; there is nothing more to do there.
void AtomicFile::sync_folder() const {
  const std::string folder = parent_folder(path_);
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    if (::fsync(fd) != 0 && errno != EINVAL) err = errno;
    ::close(fd);
  }
  if (err != 0) {
    throw IoError(detail::concat(who_, "(", quoted(path_),
                                 "): the new file is in place, but syncing its folder ",
                                 quoted(folder), " failed: ", errno_text(err),
                                 "; it may not survive a crash"));
  }
}

}  // namespace minidl
