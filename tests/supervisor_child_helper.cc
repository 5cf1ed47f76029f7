// A child for the mqsup tests (tests/mqsup_*_test.cc). It appends
// "start NAME PID" to $ORDER_FILE when it starts and "term NAME" when
// SIGTERM ends it (exit 0), so that a test reads the order of starts and
// stops. Modes:
//   run                   wait for a signal
//   ready                 send "READY NAME PID" to $MQ_SUPERVISOR, then wait
//   gate FIFO             block until FIFO is written, then send READY and wait
//   ignore-term           ignore SIGTERM and wait (the supervisor must SIGKILL it)
//   exit N                exit N at once
//   exit-first N MARKER   exit N if MARKER does not exist (creating it), else wait
//   grandchild FILE       fork a grandchild that writes its pid to FILE and
//                         waits; exit 0 at once (the grandchild is orphaned)
//   describe FILE         write its /proc/self/status SigBlk and SigIgn lines
//                         and "pgrp-is-pid yes|no" to FILE (atomically), then wait
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "mq/sender.h"

namespace {

std::string g_name;

void Append(const std::string& line) {
  const char* f = std::getenv("ORDER_FILE");
  if (f == nullptr) return;
  const int fd = ::open(f, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!::write(fd, line.data(), line.size());
  ::close(fd);
}

void OnTerm(int) {
  Append("term " + g_name + "\n");
  ::_exit(0);
}

void Ready() {
  const char* sup = std::getenv("MQ_SUPERVISOR");
  if (sup != nullptr) (void)mq::Send(sup, "READY " + g_name + " " + std::to_string(::getpid()));
}

[[noreturn]] void Wait() {
  for (;;) ::pause();
}

}  // namespace

int main(int argc, char** argv) {
  const char* name = std::getenv("MQ_NAME");
  g_name = name != nullptr ? name : "-";
  const std::string mode = argc > 1 ? argv[1] : "run";
  if (mode == "ignore-term") {
    ::signal(SIGTERM, SIG_IGN);
  } else {
    ::signal(SIGTERM, OnTerm);
  }
  Append("start " + g_name + " " + std::to_string(::getpid()) + "\n");
  if (mode == "exit" && argc > 2) return std::atoi(argv[2]);
  if (mode == "exit-first" && argc > 3) {
    const int fd = ::open(argv[3], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
      return std::atoi(argv[2]);
    }
    Wait();
  }
  if (mode == "ready") Ready();
  if (mode == "gate" && argc > 2) {
    const int fd = ::open(argv[2], O_RDONLY | O_CLOEXEC);  // blocks until a writer opens it
    char c;
    if (fd >= 0) (void)!::read(fd, &c, 1);
    Ready();
  }
  if (mode == "describe" && argc > 2) {
    std::string out;
    char buf[8192];
    const int st = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    const ssize_t n = st >= 0 ? ::read(st, buf, sizeof(buf) - 1) : -1;
    if (st >= 0) ::close(st);
    const std::string status(buf, n > 0 ? static_cast<size_t>(n) : 0);
    for (const char* key : {"SigBlk:", "SigIgn:"}) {
      const size_t at = status.find(key);
      if (at != std::string::npos) out += status.substr(at, status.find('\n', at) - at + 1);
    }
    out += std::string("pgrp-is-pid ") + (::getpgrp() == ::getpid() ? "yes" : "no") + "\n";
    const std::string tmp = std::string(argv[2]) + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    (void)!::write(fd, out.data(), out.size());
    ::close(fd);
    ::rename(tmp.c_str(), argv[2]);
    Wait();
  }
  if (mode == "grandchild" && argc > 2) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string tmp = std::string(argv[2]) + ".tmp";
      const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
      const std::string me = std::to_string(::getpid());
      (void)!::write(fd, me.data(), me.size());
      ::close(fd);
      ::rename(tmp.c_str(), argv[2]);
      Wait();
    }
    return 0;
  }
  Wait();
}
