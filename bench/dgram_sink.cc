// The ceiling of a one-datagram-per-message receiver (bench/python_bench.py,
// the "dgram_c" row; bench/analysis.md, issue 20's 50%-of-pyzmq target): a
// bare C++ receiver of AF_UNIX datagrams, with nothing stored and no Python,
// fed by the same sender (bench/py_sender.cc) as the Python receivers.
//
//   mq_bench_dgram_sink PATH COUNT
//
// Binds PATH (SOCK_DGRAM), receives COUNT datagrams with recvmmsg, 64 a call
// (MSG_WAITFORONE: it sleeps only when the queue is empty), and prints one
// line of key=value: the rate from the first datagram to the last, how many
// recvmmsg calls returned data and how many datagrams each carried on
// average (at most net.unix.max_dgram_qlen + 1 can be queued), and this
// process's CPU time per message. Exits 1 on a receive error.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: mq_bench_dgram_sink PATH COUNT\n");
    return 2;
  }
  const char* path = argv[1];
  const long count = std::strtol(argv[2], nullptr, 10);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (count < 2 || std::strlen(path) >= sizeof addr.sun_path) {
    std::fprintf(stderr, "mq_bench_dgram_sink: COUNT must be >= 2 and PATH shorter than %zu bytes\n",
                 sizeof addr.sun_path);
    return 2;
  }
  std::strcpy(addr.sun_path, path);
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "mq_bench_dgram_sink: bind %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  constexpr int kBatch = 64;
  constexpr size_t kMax = 4096;
  std::vector<char> bufs(kBatch * kMax);
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  for (int i = 0; i < kBatch; ++i) {
    iov[i] = {bufs.data() + i * kMax, kMax};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  long got = 0, calls = 0, first_batch = 0;
  double cpu0 = 0;
  std::chrono::steady_clock::time_point t0;
  while (got < count) {
    const long want = count - got < kBatch ? count - got : kBatch;
    const int n = recvmmsg(fd, msgs, static_cast<unsigned>(want), MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "mq_bench_dgram_sink: recvmmsg: %s\n", std::strerror(errno));
      return 1;
    }
    if (got == 0) {  // the clock starts after the first batch (no process start-up)
      t0 = std::chrono::steady_clock::now();
      cpu0 = CpuSeconds();
      first_batch = n;
    } else {
      ++calls;
    }
    got += n;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long timed = got - first_batch;
  std::printf("per_message_s=%.9f calls=%ld per_call=%.2f cpu_per_message_s=%.9f\n", secs / static_cast<double>(timed),
              calls, calls ? static_cast<double>(timed) / static_cast<double>(calls) : 0.0,
              (CpuSeconds() - cpu0) / static_cast<double>(timed));
  close(fd);
  unlink(path);
  return 0;
}
