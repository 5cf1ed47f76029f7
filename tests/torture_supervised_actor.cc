// torture_supervised_actor: the actor of the supervised kill torture
// (tests/torture_supervised_test.cc), supervisable as any mq actor is.
//
//   torture_supervised_actor auto|ack DELIVERED
//       Adopts its mailbox socket from the environment (MQ_SOCKET_FD,
//       MQ_SOCKET, MQ_QUEUE: docs/supervision.md), with the default sync
//       policy. Once the mailbox is open it appends "#start PID\n" to
//       DELIVERED and writes "PID MAIN OPEN\n" to the FIFO named by
//       MQ_TORTURE_READY (if set): MAIN and OPEN are CLOCK_MONOTONIC in ns at
//       main()'s entry and once the mailbox is open (the restart's parts).
//       With MQ_TORTURE_FIRST naming a file, it appends "PID FIRST\n" there
//       once its first message is taken (FIRST: CLOCK_MONOTONIC in ns). Then it receives every message oldest first and appends
//       each payload and a newline to DELIVERED with one write() on an
//       O_APPEND descriptor (auto: after Receive consumed it; ack: after Take,
//       before Ack). A SIGKILL can cut that write, so a killed process's last
//       line may lack its newline: the next "#start" follows it directly. The
//       message END is written as "#end\n" and ends the process with 0.
//
// Exit: 0 at END, 2 usage, 3 an error (printed on stderr).
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mq/mailbox.h"

namespace {

int Fail(const std::string& what, const mq::Status& s) {
  std::fprintf(stderr, "torture_supervised_actor: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 3;
}

bool WriteAll(int fd, const std::string& s) {
  return ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

int64_t MonotonicNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t main_ns = MonotonicNs();
  if (argc != 3 || (std::string(argv[1]) != "auto" && std::string(argv[1]) != "ack")) {
    std::fprintf(stderr, "usage: torture_supervised_actor auto|ack DELIVERED\n");
    return 2;
  }
  const bool ack = std::string(argv[1]) == "ack";
  const int out = ::open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) return Fail(std::string("opening ") + argv[2], mq::Status::FromErrno("open"));

  mq::MailboxOptions o;
  mq::Status s = mq::InheritSocketFromEnvironment(&o);
  if (!s.ok()) return Fail("the hand-off environment", s);
  if (o.inherit_socket < 0) return Fail("the hand-off environment", mq::Status::InvalidArgument("no MQ_SOCKET_FD"));
  std::unique_ptr<mq::Mailbox> mb;
  s = mq::Mailbox::Open(o).MoveTo(&mb);
  if (!s.ok()) return Fail("opening the mailbox", s);
  const int64_t open_ns = MonotonicNs();
  const std::string pid = std::to_string(::getpid());
  if (!WriteAll(out, "#start " + pid + "\n")) return Fail("writing", mq::Status::FromErrno("write"));
  if (const char* ready = std::getenv("MQ_TORTURE_READY"); ready != nullptr) {
    const int f = ::open(ready, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0 || !WriteAll(f, pid + " " + std::to_string(main_ns) + " " + std::to_string(open_ns) + "\n"))
      return Fail("writing to the ready FIFO", mq::Status::FromErrno(ready));
    ::close(f);
  }
  const char* first_file = std::getenv("MQ_TORTURE_FIRST");
  bool first = true;
  while (true) {
    mq::Message m;
    s = ack ? mb->Take(mq::Pattern::Any(), mq::Mailbox::kForever, &m)
            : mb->Receive(mq::Pattern::Any(), mq::Mailbox::kForever, &m);
    if (!s.ok()) return Fail(ack ? "Take" : "Receive", s);
    if (first && first_file != nullptr) {
      const int f = ::open(first_file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (f < 0 || !WriteAll(f, pid + " " + std::to_string(MonotonicNs()) + "\n"))
        return Fail("writing the first-take time", mq::Status::FromErrno(first_file));
      ::close(f);
    }
    first = false;
    const bool end = m.payload == "END";
    if (!WriteAll(out, end ? std::string("#end\n") : m.payload + "\n"))
      return Fail("writing a delivery", mq::Status::FromErrno("write"));
    if (ack && !(s = mb->Ack(m.seq)).ok()) return Fail("Ack", s);
    if (end) break;
  }
  s = mb->Close();
  return s.ok() ? 0 : Fail("Close", s);
}
