// ForkedChild: a forked process that waits for a go byte, runs `body` and
// _exits; killed and reaped on destruction. The benchmarks fork their
// senders from a process with no other threads yet, so the child may use
// the heap. Shared by the ingest and peers benchmarks.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mq::bench {

class ForkedChild {
 public:
  template <typename F>
  explicit ForkedChild(F body) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);
      char c;
      if (::read(fds[0], &c, 1) != 1) ::_exit(0);
      body();
      ::_exit(0);
    }
    ::close(fds[0]);
    if (pid_ < 0) {
      ::close(fds[1]);
      return;
    }
    go_ = fds[1];
  }
  ~ForkedChild() {
    if (go_ >= 0) ::close(go_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;

  bool ok() const { return pid_ > 0; }
  // Lets the child start its body.
  void Go() {
    char c = 'g';
    if (go_ >= 0 && ::write(go_, &c, 1) != 1) return;
  }
  // Waits for the child to finish its body on its own.
  void Wait() {
    int st;
    if (pid_ > 0) ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
};

}  // namespace mq::bench
