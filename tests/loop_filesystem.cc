#include "loop_filesystem.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace mq::test {
namespace {

// Runs argv (no shell), stdout to /dev/null and stderr to `err`; its wait
// status, or -1 if it could not be started.
int RunQuietly(const std::vector<std::string>& argv, const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
  std::vector<char*> a;
  for (const std::string& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return st;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Succeeded(int st) { return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0; }

}  // namespace

LoopFilesystem::LoopFilesystem(const std::string& fstype, const TempDir& dir)
    : image_(dir.File("image." + fstype)), mnt_(dir.File("fs." + fstype)) {
  ::mkdir(mnt_.c_str(), 0700);
  const int fd = ::open(image_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd < 0 || ::ftruncate(fd, 320 << 20) != 0) {  // sparse; xfs needs 300 MiB
    why_ = "cannot make the image file " + image_ + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return;
  }
  ::close(fd);
  const std::string err = dir.File("mkfs." + fstype + ".err");
  const std::string mkfs = "/usr/sbin/mkfs." + fstype, force = fstype == "ext4" ? "-F" : "-f";
  if (::access(mkfs.c_str(), X_OK) != 0) {
    why_ = mkfs + " is not installed";
    return;
  }
  if (!Succeeded(RunQuietly({mkfs, force, image_}, err))) {
    why_ = mkfs + " failed: " + Slurp(err);
    return;
  }
  if (!Succeeded(RunQuietly({"/usr/bin/mount", "-o", "loop", "-t", fstype, image_, mnt_}, err))) {
    why_ = "mount -o loop of a " + fstype + " image failed (no loop device, or not root?): " + Slurp(err);
    return;
  }
  mounted_ = true;
}

LoopFilesystem::~LoopFilesystem() {
  if (mounted_ && ::umount2(mnt_.c_str(), 0) != 0) ::umount2(mnt_.c_str(), MNT_DETACH);
  ::unlink(image_.c_str());
}

}  // namespace mq::test
