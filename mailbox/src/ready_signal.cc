// The mailbox's readiness descriptor (ready_signal.h, Mailbox::ReadyFd).
//
// Lost wakeups: Signal is called after the change it announces is visible
// to a look (the append is in the store before Wake; a release is done
// before it signals; `closing` is set before Close signals). A reader that
// drains the eventfd and then looks therefore sees every change signalled
// before its drain, and every later change makes the eventfd readable
// again. Changes before the eventfd existed were not signalled, so it is
// made readable: the first wait returns at once and the reader looks.
#include "ready_signal.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace mq {

ReadySignal::~ReadySignal() {
  const int fd = fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

Result<int> ReadySignal::Fd(const std::string& what) {
  int fd = fd_.load(std::memory_order_acquire);
  if (fd >= 0) return fd;
  MutexLock g(&mu_);
  fd = fd_.load(std::memory_order_acquire);
  if (fd >= 0) return fd;
  fd = ::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);  // readable: look first
  if (fd < 0) return Status::IOError(what + ": making the readiness descriptor (eventfd)", errno);
  fd_.store(fd, std::memory_order_release);
  return fd;
}

void ReadySignal::Signal() {
  const int fd = fd_.load(std::memory_order_acquire);
  if (fd < 0) return;
  const uint64_t one = 1;
  // EAGAIN only when the counter is near 2^64: it is readable already.
  (void)!::write(fd, &one, sizeof(one));
}

}  // namespace mq
