// Files that are replaced whole or not at all, and the checks minidl makes before
// it writes anything (so that a long run does not fail at its end).
//
// Every file minidl writes for a user (checkpoints, LIBSVM models and data, the
// trainer's reports) goes through AtomicFile: the bytes go to a new temporary
// file in the target's folder, which is flushed, fsync'ed and closed, then
// renamed over the target, and the folder is fsync'ed. A reader (or a crash, or
// a full disk) sees the old file or the complete new one, never a part; a failure
// removes the temporary file and leaves the old file untouched.
//
//   minidl::AtomicFile out(path, "save_model");   // checks path, creates the temp
//   out.print("nr_class %d\n", k);                // or out.write(bytes, n)
//   out.commit();                                  // fsync + rename; errors throw
//   // leaving the scope without commit() removes the temporary file
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

#include "../core/error.hpp"  // errno_text(), used with these checks

namespace minidl {

/// Requires nothing. Ensures: returns when `path` does not exist, is a regular
/// file, or is a symbolic link (a rename replaces the link itself, never what it
/// points to). Throws IoError "<who>: refusing to replace <path>: it is a
/// directory / a character device / a FIFO / ..." for anything else, so that
/// `--save /dev/null` run as root can never replace /dev/null, and for a path
/// that cannot be examined (the errno text says why).
void check_replaceable(const std::string& path, const std::string& who);

/// The checks an AtomicFile makes on `path` before writing, available to run
/// early (before a long computation whose result goes to `path`): the folder
/// that would hold `path` exists, is a folder, and this process may create
/// files in it; and check_replaceable(path). Throws IoError naming `who`, the
/// path and the reason. Writes nothing.
void check_writable(const std::string& path, const std::string& who);

/// The same for a folder that files will be written into: it exists and is a
/// writable folder, or it does not exist and its nearest existing ancestor is a
/// writable folder (so that it can be created). Throws IoError naming `who`.
void check_writable_folder(const std::string& folder, const std::string& who);

/// A file written to a temporary beside `path` and renamed over it by commit().
/// Not copyable or movable; one writer, one thread.
class AtomicFile {
 public:
  /// check_replaceable(path, who), then creates "<path>.tmp.<pid>.<n>.<random>"
  /// (the file's name cut to 191 bytes in it, so that it stays within NAME_MAX)
  /// with O_EXCL (mode 0666 minus the umask). `who` starts every error message
  /// ("<who>(\"<path>\"): ..."). Throws ValueError for an empty path or one
  /// ending in '/', IoError (with the errno text) when the temporary file cannot
  /// be created.
  AtomicFile(std::string path, std::string who);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Without a successful commit(): closes and removes the temporary file; the
  /// target is untouched. Never throws.
  ~AtomicFile();

  /// Appends `bytes` bytes (data may be null when bytes is 0). Throws IoError
  /// "cannot write the temporary file ...: <errno text>" at once on failure
  /// (EFBIG, ENOSPC, EIO), with the target untouched.
  void write(const void* data, std::size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  /// printf-style append; a failure throws as write() does.
  void print(const char* format, ...) __attribute__((format(printf, 2, 3)));

  /// Flushes, fsyncs and closes the temporary file, checks `path` is still
  /// replaceable, renames the temporary over it, and fsyncs the folder. Throws
  /// IoError naming the step and the errno text; the temporary is removed and
  /// the old file kept, except when only the folder's fsync fails: then the new
  /// file is in place and the message says its durability is not guaranteed.
  /// Call at most once; nothing may be written after it.
  ///
  /// Crash-test hook: with the environment variable MINIDL_TEST_KILL_IN_COMMIT set
  /// to "before:N" (or just "N") the process sends itself SIGKILL in its N-th
  /// commit() once the temporary file is complete, fsync'ed and closed, just
  /// before the rename; with "after:N", just after the rename and the folder's
  /// fsync. That is a process killed while saving, at the two points that matter
  /// (the tests check that the target is then the old complete file or the new
  /// one). The commits a process makes while the variable is set are counted from 1;
  /// a malformed value throws ValueError from commit() (the old file is kept).
  /// Unset (the normal case), it costs a getenv per commit.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return temp_; }

 private:
  [[noreturn]] void fail(const char* what, int err) const;
  void sync_folder() const;

  std::string path_;
  std::string who_;
  std::string temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

}  // namespace minidl
