#include "idle_measure.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "mq/mailbox.h"
#include "mq/runtime.h"
#include "mq/store.h"

namespace mq::bench {
namespace {

// A field of /proc/self/status, in kB (or a count).
long ProcStatus(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  return -1;
}

long CountEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  long n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

// Allocated bytes (st_blocks) and apparent bytes of the regular files in dir.
void DiskUse(const std::string& dir, long long* allocated, long long* apparent) {
  *allocated = *apparent = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    struct stat st;
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    *allocated += static_cast<long long>(st.st_blocks) * 512;
    *apparent += st.st_size;
  }
  ::closedir(d);
}

double ProcessCpuSeconds() {
  struct rusage ru;
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

}  // namespace

const char* IdleKindName(IdleKind k) {
  switch (k) {
    case IdleKind::kStore: return "store";
    case IdleKind::kMailbox: return "mailbox";
    case IdleKind::kMailboxRuntime: return "mailbox-runtime";
  }
  return "?";
}

bool MeasureIdle(IdleKind k, long n, const std::string& dir, IdleCost* out, std::string* error,
                 const IdleOptions& opt) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = dir + ": " + std::strerror(errno);
    return false;
  }
  std::shared_ptr<Runtime> rt;
  if (k == IdleKind::kMailboxRuntime) {
    // Created before the first figure: its four threads are the whole
    // runtime's, not a mailbox's.
    Status s = Runtime::Create().MoveTo(&rt);
    if (!s.ok()) {
      *error = "runtime: " + s.ToString();
      return false;
    }
  }
  const long rss0 = ProcStatus("VmRSS"), vm0 = ProcStatus("VmSize"), thr0 = ProcStatus("Threads");
  const long fd0 = CountEntries("/proc/self/fd");
  std::vector<std::unique_ptr<Store>> stores;
  std::vector<std::unique_ptr<Mailbox>> boxes;
  StoreOptions so;
  // sync=none by default, no flusher: what an idle store holds, not a sync policy's.
  so.sync = opt.batch ? SyncPolicy::kBatch : SyncPolicy::kNone;
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    const std::string q = dir + "/q" + std::to_string(i);
    if (k == IdleKind::kStore) {
      std::unique_ptr<Store> st;
      Status s = Store::Open(q, so).MoveTo(&st);
      if (!s.ok()) {
        *error = "store " + std::to_string(i) + ": " + s.ToString();
        return false;
      }
      stores.push_back(std::move(st));
    } else {
      MailboxOptions mo;
      mo.queue_path = q;
      mo.socket_path = dir + "/s" + std::to_string(i);
      mo.store = so;
      mo.runtime = rt;
      std::unique_ptr<Mailbox> mb;
      Status s = Mailbox::Open(mo).MoveTo(&mb);
      if (!s.ok()) {
        *error = "mailbox " + std::to_string(i) + ": " + s.ToString();
        return false;
      }
      boxes.push_back(std::move(mb));
    }
  }
  const double d = static_cast<double>(n);
  out->open_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / d;
  long long allocated = 0, apparent = 0;
  DiskUse(dir, &allocated, &apparent);
  out->rss_kb = static_cast<double>(ProcStatus("VmRSS") - rss0) / d;
  out->vm_kb = static_cast<double>(ProcStatus("VmSize") - vm0) / d;
  out->fds = static_cast<double>(CountEntries("/proc/self/fd") - fd0) / d;
  out->threads = static_cast<double>(ProcStatus("Threads") - thr0) / d;
  out->disk_kb = static_cast<double>(allocated) / 1024 / d;
  out->apparent_kb = static_cast<double>(apparent) / 1024 / d;
  if (opt.idle_seconds > 0) {
    const double cpu0 = ProcessCpuSeconds();
    const auto w0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.idle_seconds));
    out->idle_cpu_s = ProcessCpuSeconds() - cpu0;
    out->idle_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  }
  return true;
}

}  // namespace mq::bench
