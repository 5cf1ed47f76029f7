// BindOwnedSocket: the mode set before bind, nothing replaced
// (mq/socket_owner.h).
#include "mq/socket_owner.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mq::supervisor {
namespace {

bool Address(const std::string& path, sockaddr_un* a) {
  if (path.size() >= sizeof(a->sun_path)) return false;
  *a = sockaddr_un{};
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<int> BindOwnedSocket(const std::string& path, uint32_t mode) {
  sockaddr_un target;
  if (path.empty() || path[0] != '/' || !Address(path, &target))
    return Status::InvalidArgument(path + ": a socket path must be absolute and at most 107 bytes");
  if ((mode & ~0777u) != 0) return Status::InvalidArgument(path + ": socket mode " + std::to_string(mode) + " is not a mode");
  // What is there now: nothing, a stale socket (removed), or a refusal.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::InvalidArgument(path + ": exists and is not a socket; it is left alone. Remove it or choose "
                                            "another socket path");
    const int probe = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return Status::FromErrno(path + ": socket()");
    const int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&target), sizeof(target));
    const int err = errno;
    ::close(probe);
    if (rc == 0)
      return Status::IOError(path + ": a live process is bound to this socket; stop it or choose another path",
                             EADDRINUSE);
    if (err != ECONNREFUSED) return Status::IOError(path + ": cannot tell whether the socket there is in use: " +
                                                        std::strerror(err), err);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(path + ": removing a stale socket");
  } else if (errno != ENOENT) {
    return Status::FromErrno(path + ": lstat");
  }

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(path + ": socket()");
  bool bound = false;
  auto fail = [&](const std::string& what) {
    Status s = Status::FromErrno(path + ": " + what);
    ::close(fd);
    if (bound) ::unlink(path.c_str());
    return s;
  };
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) return fail("SO_PASSCRED");
  // Linux creates the socket file with the socket inode's mode less the
  // umask: set it first, so the file is never more open than `mode`.
  if (::fchmod(fd, mode) != 0) return fail("fchmod of the socket before bind");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
    if (errno == EADDRINUSE) {
      ::close(fd);
      return Status::IOError(path + ": another process created this path just now; stop it or choose another path",
                             EADDRINUSE);
    }
    return fail("bind");
  }
  bound = true;
  // Adds back what the umask took (it only ever narrowed the mode).
  if (::chmod(path.c_str(), mode) != 0) return fail("chmod of the socket");
  SyncDir(DirOf(path));
  return fd;
}

}  // namespace mq::supervisor
