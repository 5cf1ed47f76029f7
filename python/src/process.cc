// ThisProcess (process.h): the pid, refreshed in a forked child by a
// pthread_atfork handler, which runs in the child before fork() returns
// there, so no code of the child can read the parent's pid after the fork.
#include "process.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace mqpy {
namespace {

std::atomic<pid_t> g_pid{0};

void InChild() { g_pid.store(::getpid(), std::memory_order_relaxed); }

}  // namespace

void InitProcess() {
  // Without the handler (pthread_atfork fails only with ENOMEM) g_pid stays
  // 0 and ThisProcess asks the kernel every time.
  if (pthread_atfork(nullptr, nullptr, &InChild) == 0) g_pid.store(::getpid(), std::memory_order_relaxed);
}

pid_t ThisProcess() {
  const pid_t p = g_pid.load(std::memory_order_relaxed);
  return p != 0 ? p : ::getpid();
}

}  // namespace mqpy
