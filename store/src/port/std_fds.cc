#include "mq/std_fds.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace mq {

Status EnsureStandardFds(StandardFds* was) {
  StandardFds closed;
  bool* flags[3] = {&closed.stdin_closed, &closed.stdout_closed, &closed.stderr_closed};
  // In order 0, 1, 2: open() returns the lowest free number, so each
  // /dev/null lands on the fd being filled (the lower ones are valid by then).
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    *flags[fd] = true;
    int got = ::open("/dev/null", (fd == 0 ? O_RDONLY : O_WRONLY) | O_NOFOLLOW);
    if (got < 0) return Status::FromErrno("/dev/null: open, to fill closed fd " + std::to_string(fd));
    if (got != fd) {  // only if a lower fd was closed meanwhile by another thread
      int ok = ::dup2(got, fd);
      int err = errno;
      ::close(got);
      if (ok != fd) return Status::IOError("/dev/null: dup2 onto fd " + std::to_string(fd), err);
    }
  }
  if (was != nullptr) *was = closed;
  return Status::OK();
}

}  // namespace mq
