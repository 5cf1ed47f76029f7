#include "secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mq::bridge {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string Octal(mode_t m) {
  char b[8];
  std::snprintf(b, sizeof(b), "%04o", static_cast<unsigned>(m & 07777));
  return b;
}

}  // namespace

Result<std::string> ReadSecretFile(const std::string& path, const std::string& field) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) {
    const int e = errno;
    const std::string m = path + ": cannot open (" + field + ")";
    return e == ENOENT ? Status::NotFound(m + ": " + std::strerror(e)) : Status::IOError(m, e);
  }
  struct stat st;
  if (::fstat(f.fd, &st) != 0) return Status::IOError(path + ": fstat", errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file (" + field + ")");
  if ((st.st_mode & 077) != 0)
    return Status::Denied(path + ": readable or writable by group or others (mode " + Octal(st.st_mode) +
                          "); it holds a secret (" + field + "): chmod 600 " + path);
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return Status::Denied(path + ": owned by uid " + std::to_string(st.st_uid) + ", neither this user (uid " +
                          std::to_string(::geteuid()) + ") nor root; it holds a secret (" + field +
                          "): chown it to the user mqbridge runs as");
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(path + ": read", errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > 65536) return Status::InvalidArgument(path + ": larger than 64 KiB; is it the right file? (" + field + ")");
  }
  return out;
}

}  // namespace mq::bridge
