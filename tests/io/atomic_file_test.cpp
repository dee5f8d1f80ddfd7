// Tests of io/atomic_file: a commit replaces the target whole, anything short of
// a commit leaves it as it was, non-regular files are never replaced, and the
// early checks (check_writable, check_writable_folder) say what is wrong.
#include "io/atomic_file.hpp"

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io_test_util.hpp"
#include "test_util.hpp"

namespace minidl {
namespace {

namespace fs = std::filesystem;

using test::read_bytes;
using test::TempDir;
using test::write_bytes;

TEST(AtomicFile, CommitReplacesTheTargetAndLeavesNothingElse) {
  TempDir dir;
  const std::string path = dir.file("model.txt");
  write_bytes(path, "old contents\n");
  {
    AtomicFile f(path, "test");
    EXPECT_EQ(f.path(), path);
    EXPECT_EQ(f.temporary_path().rfind(path + ".tmp.", 0), 0u) << f.temporary_path();
    f.print("nr_class %d\n", 3);
    f.write(std::string("SV\n"));
    f.write(nullptr, 0);
    EXPECT_EQ(read_bytes(path), "old contents\n");  // nothing visible before the commit
    f.commit();
  }
  EXPECT_EQ(read_bytes(path), "nr_class 3\nSV\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.txt"});
}

// A legal name close to NAME_MAX (255 bytes): the temporary keeps a shortened copy of it,
// so that its own name is legal too (it failed with "File name too long"; review).
TEST(AtomicFile, LongFileNamesAreWritable) {
  TempDir dir;
  for (const std::size_t length : {200u, 240u, 255u}) {
    const std::string path = dir.file(std::string(length, 'a'));
    AtomicFile f(path, "test");
    EXPECT_EQ(f.temporary_path().rfind(dir.file(std::string(191, 'a')) + ".tmp.", 0), 0u)
        << f.temporary_path();
    f.write(std::string("data"));
    f.commit();
    EXPECT_EQ(read_bytes(path), "data");
  }
  EXPECT_EQ(dir.entries().size(), 3u);
}

TEST(AtomicFile, WithoutCommitTheOldFileStaysAndTheTemporaryGoes) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  write_bytes(path, "keep me");
  try {
    AtomicFile f(path, "test");
    f.print("half a file");
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_bytes(path), "keep me");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

// A write that fails halfway (EFBIG here, ENOSPC on a full disk) throws at once
// with the system's reason, and the old file is intact.
TEST(AtomicFile, FailedWriteSaysWhyAndKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("data.txt");
  write_bytes(path, "the previous good file\n");
  std::string message;
  {
    const test::FileSizeLimit limit(4096);
    try {
      AtomicFile f(path, "write_test");
      const std::string line(1000, 'x');
      for (int i = 0; i < 100; ++i) f.print("%s\n", line.c_str());
      f.commit();
    } catch (const IoError& e) {
      message = e.what();
    }
  }
  ASSERT_FALSE(message.empty()) << "the write past the file-size limit did not fail";
  for (const char* fragment : {"write_test", "data.txt", "File too large", "errno", "unchanged"})
    EXPECT_NE(message.find(fragment), std::string::npos) << message << " lacks " << fragment;
  EXPECT_EQ(read_bytes(path), "the previous good file\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"data.txt"});
}

TEST(AtomicFile, RefusesNonRegularTargets) {
  TempDir dir;
  const std::string folder = dir.file("folder");
  fs::create_directory(folder);
  MINIDL_EXPECT_THROW_WITH(AtomicFile(folder, "save"), IoError, "save", folder,
                           "refusing to replace", "a directory");
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  MINIDL_EXPECT_THROW_WITH(AtomicFile(fifo, "save"), IoError, "refusing to replace", "a FIFO");
  EXPECT_TRUE(fs::is_fifo(fifo));
  // /dev/null is only examined: the refusal comes before anything is created.
  MINIDL_EXPECT_THROW_WITH(check_replaceable("/dev/null", "save"), IoError, "/dev/null",
                           "a character device");
  MINIDL_EXPECT_THROW_WITH(AtomicFile("/dev/null", "save"), IoError, "a character device");
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
  MINIDL_EXPECT_THROW_WITH(AtomicFile("", "save"), ValueError, "empty");
  MINIDL_EXPECT_THROW_WITH(AtomicFile(dir.path() + "/", "save"), ValueError, "directory");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"fifo", "folder"}));
  check_replaceable(dir.file("missing"), "save");  // a new file is fine
}

// A symbolic link is replaced by the new file; what it pointed to is untouched.
TEST(AtomicFile, ReplacesASymlinkNotItsTarget) {
  TempDir dir;
  write_bytes(dir.file("real"), "real");
  fs::create_symlink(dir.file("real"), dir.file("link"));
  AtomicFile f(dir.file("link"), "save");
  f.write(std::string("new"));
  f.commit();
  EXPECT_FALSE(fs::is_symlink(dir.file("link")));
  EXPECT_EQ(read_bytes(dir.file("link")), "new");
  EXPECT_EQ(read_bytes(dir.file("real")), "real");
}

// The target turning into a folder while the file is written: commit refuses,
// removes the temporary file, and leaves the folder alone.
TEST(AtomicFile, TargetReplacedDuringTheWriteIsNotClobbered) {
  TempDir dir;
  const std::string path = dir.file("out");
  {
    AtomicFile f(path, "save");
    f.write(std::string("bytes"));
    fs::create_directory(path);
    MINIDL_EXPECT_THROW_WITH(f.commit(), IoError, "refusing to replace", "a directory");
  }
  EXPECT_TRUE(fs::is_directory(path));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out"});
}

// A process killed while committing (MINIDL_TEST_KILL_IN_COMMIT, the hook the
// crash tests of minidl-train use): killed before the rename, the target is the old
// complete file and the complete temporary stays behind; killed after it, the
// target is the new file. Commits before the chosen one go through.
int commit_in_killed_child(const std::string& path, const char* hook) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("MINIDL_TEST_KILL_IN_COMMIT", hook, 1);
    try {
      for (int i = 1; i <= 3; ++i) {
        AtomicFile f(path, "crash_test");
        f.print("version %d\n", i);
        f.commit();
      }
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

TEST(AtomicFile, KilledBeforeTheRenameLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  EXPECT_EQ(commit_in_killed_child(path, "before:2"), 128 + SIGKILL);
  EXPECT_EQ(read_bytes(path), "version 1\n");
  const std::vector<std::string> names = dir.entries();
  ASSERT_EQ(names.size(), 2u) << "expected the target and the complete temporary file";
  EXPECT_EQ(names[0], "ckpt");
  EXPECT_EQ(names[1].rfind("ckpt.tmp.", 0), 0u) << names[1];
  EXPECT_EQ(read_bytes(dir.file(names[1])), "version 2\n");
  // "N" alone means before the rename.
  TempDir dir2;
  EXPECT_EQ(commit_in_killed_child(dir2.file("ckpt"), "1"), 128 + SIGKILL);
  EXPECT_FALSE(fs::exists(dir2.file("ckpt")));
}

TEST(AtomicFile, KilledAfterTheRenameLeavesTheNewFile) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  EXPECT_EQ(commit_in_killed_child(path, "after:2"), 128 + SIGKILL);
  EXPECT_EQ(read_bytes(path), "version 2\n");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"ckpt"});
}

TEST(AtomicFile, MalformedKillHookIsAnErrorNotIgnored) {
  TempDir dir;
  const std::string path = dir.file("ckpt");
  write_bytes(path, "old");
  for (const char* bad : {"soon", "before:0", "after:", "during:1", "2x"}) {
    EXPECT_EQ(commit_in_killed_child(path, bad), 3) << bad;
    EXPECT_EQ(read_bytes(path), "old") << bad;
  }
  EXPECT_EQ(commit_in_killed_child(path, ""), 0);  // empty: no hook
  EXPECT_EQ(read_bytes(path), "version 3\n");
}

TEST(AtomicFile, UncreatableTemporaryFileSaysWhy) {
  TempDir dir;
  write_bytes(dir.file("plain"), "x");
  MINIDL_EXPECT_THROW_WITH(AtomicFile(dir.file("plain/f"), "save"), IoError,
                           "cannot create the temporary file", "Not a directory");
  MINIDL_EXPECT_THROW_WITH(AtomicFile(dir.file("missing/f"), "save"), IoError,
                           "No such file or directory");
}

TEST(CheckWritable, ReportsWhatIsWrongBeforeAnythingIsWritten) {
  TempDir dir;
  check_writable(dir.file("new.csv"), "--out");
  write_bytes(dir.file("plain"), "x");
  MINIDL_EXPECT_THROW_WITH(check_writable(dir.file("missing/model"), "--svm-save"), IoError,
                           "--svm-save", "missing/model", "No such file or directory");
  MINIDL_EXPECT_THROW_WITH(check_writable(dir.file("plain/model"), "--save"), IoError, "--save",
                           "is not a folder");
  MINIDL_EXPECT_THROW_WITH(check_writable(dir.path(), "--save"), IoError, "a directory");
  MINIDL_EXPECT_THROW_WITH(check_writable(dir.path() + "/", "--save"), ValueError, "directory");
  MINIDL_EXPECT_THROW_WITH(check_writable("/dev/null", "--save"), IoError, "a character device");

  check_writable_folder(dir.file("a/b/c"), "--out");  // created later, under a writable folder
  check_writable_folder(dir.path(), "--out");
  MINIDL_EXPECT_THROW_WITH(check_writable_folder(dir.file("plain/sub"), "--out"), IoError, "--out",
                           "plain", "is not a folder");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

// Permissions bind everyone but root, so as root the check runs in a child that
// drops to the user and group "nobody" (65534).
TEST(CheckWritable, ReadOnlyFolderIsReported) {
  TempDir dir;
  const std::string ro = dir.file("ro");
  fs::create_directory(ro);
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::others_exec);
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                          fs::perms::others_exec);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0))
      ::_exit(3);
    int code = 1;
    try {
      check_writable(ro + "/model", "--svm-save");
    } catch (const IoError& e) {
      const std::string m = e.what();
      code = m.find("no permission") != std::string::npos &&
                     m.find("Permission denied") != std::string::npos
                 ? 0
                 : 2;
      if (code != 0) std::fprintf(stderr, "message: %s\n", m.c_str());
    }
    try {
      check_writable_folder(ro + "/sub", "--out");
      code = code == 0 ? 4 : code;
    } catch (const IoError&) {
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: no error, 2: wrong message, 3: setuid failed, 4: folder check passed";
}

TEST(ErrnoText, NamesTheReasonAndTheNumber) {
  EXPECT_EQ(errno_text(ENOSPC), "No space left on device (errno 28)");
}

}  // namespace
}  // namespace minidl
