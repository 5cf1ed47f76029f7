// The SIGBUS handler behind guarded mappings (sigbus_guard.h).
#include "port/sigbus_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <mutex>

namespace mq::sigbus_guard {
namespace {

struct Slot {
  std::atomic<bool> taken{false};
  std::atomic<uintptr_t> lo{0}, hi{0};  // [lo, hi); 0, 0 when free
  std::atomic<uint32_t> faults{0};
};

// Lock-free, so that the handler may read them at any moment.
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);

constexpr int kSlots = 256;  // open stores with a mapped log, per process
Slot g_slots[kSlots];
struct sigaction g_previous;
std::atomic<bool> g_installed{false};
uintptr_t g_page_mask = 0;

// Not ours: what would have happened had we not been installed.
void Chain(int sig, siginfo_t* info, void* context) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0) {
    if (g_previous.sa_sigaction != nullptr) g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // The default action (a fault's SIGBUS cannot be ignored): put it back.
  // A fault happens again when the handler returns and kills the process as
  // it would have; a SIGBUS sent by kill() is sent again.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(SIGBUS);
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  const uintptr_t addr = info != nullptr && info->si_code > 0 ? reinterpret_cast<uintptr_t>(info->si_addr) : 0;
  if (addr != 0) {
    for (Slot& s : g_slots) {
      const uintptr_t lo = s.lo.load(std::memory_order_acquire);
      if (lo == 0 || addr < lo || addr >= s.hi.load(std::memory_order_acquire)) continue;
      // The file no longer reaches this page: put a private zero page over
      // it, so that the touch completes without reaching the file.
      void* page = reinterpret_cast<void*>(addr & g_page_mask);
      void* p = ::mmap(page, ~g_page_mask + 1, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
      if (p == page) {
        s.faults.fetch_add(1, std::memory_order_relaxed);
        errno = saved_errno;
        return;
      }
      break;
    }
  }
  errno = saved_errno;
  Chain(sig, info, context);
}

bool Install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_page_mask = ~(static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE)) - 1);
    struct sigaction act = {};
    act.sa_sigaction = OnSigbus;
    act.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&act.sa_mask);
    if (::sigaction(SIGBUS, &act, &g_previous) == 0) g_installed.store(true);
  });
  if (!g_installed.load()) return false;
  struct sigaction now = {};
  if (::sigaction(SIGBUS, nullptr, &now) != 0) return false;
  return (now.sa_flags & SA_SIGINFO) != 0 && now.sa_sigaction == OnSigbus;
}

}  // namespace

int Register(char* base, size_t len) {
  if (base == nullptr || len == 0 || !Install()) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!g_slots[i].taken.compare_exchange_strong(expected, true)) continue;
    g_slots[i].faults.store(0);
    g_slots[i].hi.store(reinterpret_cast<uintptr_t>(base) + len, std::memory_order_release);
    g_slots[i].lo.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return i;
  }
  return -1;
}

void Unregister(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  g_slots[slot].lo.store(0, std::memory_order_release);
  g_slots[slot].hi.store(0, std::memory_order_release);
  g_slots[slot].taken.store(false);
}

bool TakeFault(int slot) {
  if (slot < 0 || slot >= kSlots) return false;
  // The handler ran on this thread, in the middle of the touch: keep the
  // compiler from reading the count before the touch.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  Slot& s = g_slots[slot];
  if (s.faults.load(std::memory_order_relaxed) == 0) return false;
  s.faults.store(0, std::memory_order_relaxed);
  return true;
}

}  // namespace mq::sigbus_guard
