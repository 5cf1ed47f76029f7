// The synced "index in use" mark (docs/design.md, "When the index is
// trusted"): a writable open makes the index's mark (not clean, this boot, the
// new session stamp) durable before any unsynced index commit and before the
// log's new session stamp. Without it, a power loss during the open, before
// the stamp reaches the disk, could leave LMDB's old clean meta (naming the
// log's unchanged stamp) over pages the unsynced commits tore, and that index
// would be trusted. FaultEnv cannot drop LMDB's unsynced pages, so the order
// is observed on the real syscalls, with strace.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "mqtool_harness.h"
#include "test_util.h"

namespace mq::test {
namespace {

TEST(MqtoolIndexMarkTest, WritableOpenSyncsTheIndexMarkBeforeItWritesTheLogsSessionStamp) {
  ASSERT_EQ(std::system("command -v strace >/dev/null 2>&1"), 0) << "strace is needed (deps.sh installs it)";
  TempDir dir;
  const std::string q = dir.File("q");
  MakeQueue(q, {"m1", "m2"});  // closed cleanly: the index says clean
  const std::string trace = dir.File("trace");
  // LeakSanitizer cannot run under ptrace: an ASan build of mqtool would fail
  // at its exit (its leaks are not what this test is about).
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options = std::string(asan != nullptr ? asan : "") + (asan != nullptr ? ":" : "") +
                                   "detect_leaks=0";
  const std::string cmd = "ASAN_OPTIONS='" + asan_options + "' strace -f -qq -o '" + trace +
                          "' -e trace=open,openat,pwrite64,fdatasync,fsync,msync '" + MQTOOL_PATH + "' recv '" + q +
                          "' >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream in(trace);
  ASSERT_TRUE(in.good()) << trace;
  const std::regex open_re(R"re((?:open|openat)\(.*"([^"]*)".*\)\s+=\s+(\d+))re");
  const std::regex sync_re(R"re((?:fdatasync|fsync)\((\d+)\))re");
  const std::regex stamp_re(R"re(pwrite64\((\d+), .*, 4, 48\)\s+=\s+4)re");
  std::set<std::string> idx_fds, log_fds;
  int line_no = 0, first_idx_sync = -1, stamp_write = -1;
  std::string line, all;
  while (std::getline(in, line)) {
    ++line_no;
    all += line + "\n";
    std::smatch m;
    if (std::regex_search(line, m, open_re)) {
      const std::string path = m[1], fd = m[2];
      idx_fds.erase(fd);
      log_fds.erase(fd);
      // LMDB opens the index through IndexFiles' private directory
      // (/proc/self/fd/N/idx, index_files.h); our own descriptor is q.idx.
      auto ends_with = [&](const std::string& tail) {
        return path.size() >= tail.size() && path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
      };
      if (ends_with("q.idx") || (path.rfind("/proc/self/fd/", 0) == 0 && ends_with("/idx"))) idx_fds.insert(fd);
      if (path == q || path == "q") log_fds.insert(fd);
    } else if (std::regex_search(line, m, sync_re)) {
      if (idx_fds.count(m[1]) && first_idx_sync < 0) first_idx_sync = line_no;
    } else if (std::regex_search(line, m, stamp_re)) {
      if (log_fds.count(m[1]) && stamp_write < 0) stamp_write = line_no;
    }
  }
  ASSERT_GT(stamp_write, 0) << "no session-stamp write to the log seen:\n" << all;
  ASSERT_GT(first_idx_sync, 0) << "the index was never synced:\n" << all;
  EXPECT_LT(first_idx_sync, stamp_write) << all;
}

}  // namespace
}  // namespace mq::test
