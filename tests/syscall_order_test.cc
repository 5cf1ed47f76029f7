// The real syscalls of the store, in order (docs/design.md, "Every fsync,
// rename and unlink"): tests/syscall_order_helper runs under
// `strace -f -y`, which names the file of every descriptor, and the test
// reads the trace. These tests catch what the fault-injecting Env cannot: a
// PosixEnv whose fdatasync or directory fsync does nothing.
//
// strace must be installed (deps.sh installs it; CI has it): without it these
// tests fail, they do not skip.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

// One traced syscall on a file (paths as strace -y resolved them).
struct Event {
  std::string call;   // "write" for every write-like call, else the syscall's name
  std::string path;   // the file of its descriptor; for a rename, the source
  std::string path2;  // for a rename, the target
  bool ok = true;
  std::string mark;   // for the helper's "mq-mark:NAME" writes to /dev/null
};

std::string FindStrace() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::string f = (d.empty() ? "." : d) + "/strace";
    if (::access(f.c_str(), X_OK) == 0) return f;
  }
  for (const char* f : {"/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"})
    if (::access(f, X_OK) == 0) return f;
  return "";
}

std::string StripDeleted(std::string p) {
  const std::string tail = " (deleted)";
  if (p.size() > tail.size() && p.compare(p.size() - tail.size(), tail.size(), tail) == 0)
    p.resize(p.size() - tail.size());
  return p;
}

std::string Resolve(const std::string& dir, const std::string& name) {
  return !name.empty() && name[0] == '/' ? name : dir + "/" + name;
}

// Parses `strace -f -y -o FILE` output. A call split by another thread
// ("<unfinished ...>" / "<... resumed>") counts where it started.
std::vector<Event> ParseTrace(const std::string& text) {
  static const std::regex kLine(R"re(^\d+\s+(\w+)\((.*)$)re");
  static const std::regex kFd(R"re(^(\d+)<([^>]*)>)re");
  static const std::regex kRename(R"re(^"([^"]*)", "([^"]*)")re");
  static const std::regex kRenameAt(
      R"re(^(?:AT_FDCWD|\d+)<([^>]*)>, "([^"]*)", (?:AT_FDCWD|\d+)<([^>]*)>, "([^"]*)")re");
  static const std::regex kMark(R"re("mq-mark:([a-z]+)")re");
  std::vector<Event> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, kLine)) continue;
    Event e;
    std::string call = m[1], args = m[2];
    e.ok = line.find(") = -1 ") == std::string::npos;
    std::smatch a;
    if (call == "rename" && std::regex_search(args, a, kRename)) {
      e.path = a[1];
      e.path2 = a[2];
    } else if ((call == "renameat" || call == "renameat2") && std::regex_search(args, a, kRenameAt)) {
      e.path = Resolve(StripDeleted(a[1]), a[2]);
      e.path2 = Resolve(StripDeleted(a[3]), a[4]);
      call = "rename";
    } else if (std::regex_search(args, a, kFd)) {
      e.path = StripDeleted(a[2]);
    } else {
      continue;
    }
    if (call == "pwrite64" || call == "pwritev" || call == "pwritev2" || call == "writev") call = "write";
    if (call == "write" && e.path == "/dev/null" && std::regex_search(args, a, kMark)) e.mark = a[1];
    e.call = call;
    out.push_back(e);
  }
  return out;
}

// Runs the helper under strace; the events on files, or a failure.
void Trace(const std::vector<std::string>& helper_args, const std::string& dir, std::vector<Event>* events) {
  const std::string strace = FindStrace();
  ASSERT_FALSE(strace.empty()) << "strace is not installed: the syscall-order tests need it to see the store's "
                                  "real fdatasync, rename and directory fsync calls (deps.sh installs it; or "
                                  "apt-get install strace)";
  const std::string trace = dir + "/strace.out", err = dir + "/strace.err";
  std::vector<std::string> argv = {strace, "-f", "-y", "-s", "64", "-o", trace, "-e",
                                   "trace=write,pwrite64,pwritev,pwritev2,writev,fdatasync,fsync,msync,"
                                   "rename,renameat,renameat2,ftruncate",
                                   MQ_SYSCALL_ORDER_HELPER};
  argv.insert(argv.end(), helper_args.begin(), helper_args.end());
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  // LeakSanitizer cannot run under ptrace (an ASan build of the helper would
  // fail at its exit); the helper's leaks are not what this test is about.
  std::vector<std::string> env;
  std::string asan = "ASAN_OPTIONS=detect_leaks=0";
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("ASAN_OPTIONS=", 0) == 0) {
      asan = std::string(*e) + ":detect_leaks=0";
    } else {
      env.emplace_back(*e);
    }
  }
  env.push_back(asan);
  std::vector<char*> cenv;
  for (auto& s : env) cenv.push_back(s.data());
  cenv.push_back(nullptr);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "strace or the helper failed (status " << st << "): " << test::ReadFileOrDie(err);
  *events = ParseTrace(test::ReadFileOrDie(trace));
}

// The events between the helper's marks `from` and `to`.
std::vector<Event> Phase(const std::vector<Event>& all, const std::string& from, const std::string& to) {
  size_t i = 0;
  while (i < all.size() && all[i].mark != from) ++i;
  std::vector<Event> out;
  for (++i; i < all.size() && all[i].mark != to; ++i) out.push_back(all[i]);
  EXPECT_LT(i, all.size()) << "the trace has no marks " << from << " ... " << to;
  return out;
}

std::string Show(const std::vector<Event>& ev) {
  std::string s;
  for (const Event& e : ev)
    s += "  " + e.call + " " + e.path + (e.path2.empty() ? "" : " -> " + e.path2) + (e.ok ? "" : " (failed)") + "\n";
  return s;
}

using Match = std::function<bool(const Event&)>;
Match Call(const std::string& call, const std::string& path) {
  return [=](const Event& e) { return e.ok && e.call == call && e.path == path; };
}
// fdatasync or fsync of a file (or of a directory: the same calls).
Match SyncOf(const std::string& path) {
  return [=](const Event& e) { return e.ok && (e.call == "fdatasync" || e.call == "fsync") && e.path == path; };
}
Match Rename(const std::string& from, const std::string& to) {
  return [=](const Event& e) { return e.ok && e.call == "rename" && e.path == from && e.path2 == to; };
}
Match WriteTo(const std::function<bool(const std::string&)>& path) {
  return [=](const Event& e) { return e.ok && e.call == "write" && path(e.path); };
}

constexpr size_t kNone = SIZE_MAX;
size_t First(const std::vector<Event>& ev, const Match& m, size_t from = 0) {
  for (size_t i = from; i < ev.size(); ++i)
    if (m(ev[i])) return i;
  return kNone;
}
size_t Last(const std::vector<Event>& ev, const Match& m) {
  for (size_t i = ev.size(); i > 0; --i)
    if (m(ev[i - 1])) return i - 1;
  return kNone;
}

class SyscallOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char real[PATH_MAX];
    ASSERT_NE(::realpath(tmp_.path().c_str(), real), nullptr);
    dir_ = real;
    q_ = dir_ + "/q";
  }
  test::TempDir tmp_;
  std::string dir_, q_;
};

// Creating the log, then opening its index: header write -> fdatasync log ->
// fsync dir; then (the directory synced first) the index meta is written
// "not clean" and LMDB is synced before the open returns.
TEST_F(SyscallOrderTest, CreateSyncsTheLogThenItsDirectoryAndTheIndexOpenIsSynced) {
  std::vector<Event> all;
  ASSERT_NO_FATAL_FAILURE(Trace({"work", q_}, dir_, &all));
  const std::vector<Event> ev = Phase(all, "open", "opened");
  SCOPED_TRACE("open:\n" + Show(ev));
  const size_t w = First(ev, Call("write", q_));
  ASSERT_NE(w, kNone) << "no header write";
  const size_t sync = First(ev, SyncOf(q_), w);
  ASSERT_NE(sync, kNone) << "the new log is not fdatasync'ed after its header is written";
  const size_t dsync = First(ev, SyncOf(dir_), sync);
  ASSERT_NE(dsync, kNone) << "the directory is not fsync'ed after the log is created";
  const std::string idx = q_ + ".idx";
  const size_t iw = First(ev, Call("write", idx));
  ASSERT_NE(iw, kNone) << "the open wrote no index meta";
  EXPECT_GT(iw, dsync) << "the index was written before the directory was fsync'ed";
  EXPECT_NE(First(ev, SyncOf(idx), iw), kNone) << "the index's \"not clean\" mark is not synced during the open";
}

// Append under sync=always: pwrite -> fdatasync of the log, before Append returns.
TEST_F(SyscallOrderTest, AppendUnderSyncAlwaysWritesThenFdatasyncsTheLogBeforeReturning) {
  std::vector<Event> all;
  ASSERT_NO_FATAL_FAILURE(Trace({"work", q_}, dir_, &all));
  const std::vector<Event> ev = Phase(all, "append", "appended");
  SCOPED_TRACE("append:\n" + Show(ev));
  const size_t w = Last(ev, Call("write", q_));
  ASSERT_NE(w, kNone) << "the append wrote nothing to the log";
  EXPECT_NE(First(ev, SyncOf(q_), w), kNone) << "the append returned before the log was fdatasync'ed";
}

// Consume under sync=always: the flag reaches the file (mapped page or
// pwrite), then fdatasync of the log, before Consume returns.
TEST_F(SyscallOrderTest, ConsumeUnderSyncAlwaysFdatasyncsTheLogBeforeReturning) {
  std::vector<Event> all;
  ASSERT_NO_FATAL_FAILURE(Trace({"work", q_}, dir_, &all));
  const std::vector<Event> ev = Phase(all, "consume", "consumed");
  SCOPED_TRACE("consume:\n" + Show(ev));
  const size_t sync = Last(ev, SyncOf(q_));
  ASSERT_NE(sync, kNone) << "the consume returned before the log was fdatasync'ed";
  const size_t w = Last(ev, Call("write", q_));
  if (w != kNone) {
    EXPECT_LT(w, sync) << "the flag was written after the last fdatasync";
  }
}

// Compaction: write QUEUE.compact -> fdatasync it -> rename over QUEUE ->
// fsync the directory -> only then the index commit.
TEST_F(SyscallOrderTest, CompactionSyncsTheCopyThenRenamesThenSyncsTheDirectoryBeforeTheIndexCommit) {
  std::vector<Event> all;
  ASSERT_NO_FATAL_FAILURE(Trace({"work", q_}, dir_, &all));
  const std::vector<Event> ev = Phase(all, "compact", "compacted");
  SCOPED_TRACE("compact:\n" + Show(ev));
  const std::string tmp = q_ + ".compact";
  const size_t w = Last(ev, Call("write", tmp));
  ASSERT_NE(w, kNone) << "nothing was written to " << tmp;
  const size_t ren = First(ev, Rename(tmp, q_));
  ASSERT_NE(ren, kNone) << "no rename of " << tmp << " over " << q_;
  EXPECT_LT(w, ren) << "the copy was written to after the rename";
  const size_t sync = Last(ev, SyncOf(tmp));
  ASSERT_NE(sync, kNone) << tmp << " was never fdatasync'ed";
  EXPECT_LT(w, sync) << "the copy was written to after its fdatasync";
  EXPECT_LT(sync, ren) << "the copy was renamed over the log before it was fdatasync'ed";
  const size_t dsync = First(ev, SyncOf(dir_), ren);
  ASSERT_NE(dsync, kNone) << "the directory was not fsync'ed after the rename";
  const size_t iw = First(ev, Call("write", q_ + ".idx"), ren);
  if (iw != kNone) {
    EXPECT_GT(iw, dsync) << "the index was committed before the directory was fsync'ed";
  }
}

// Recovery of a torn tail: write the side file -> fdatasync it -> fsync the
// directory -> ftruncate the log -> fdatasync the log.
TEST_F(SyscallOrderTest, TornTailCutSyncsTheSideFileAndTheDirectoryBeforeTruncatingTheLog) {
  {
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(q_, o).MoveTo(&s).ok());
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("kept").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Append("this message will be cut short").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  ASSERT_EQ(::truncate(q_.c_str(), static_cast<off_t>(test::ReadFileOrDie(q_).size() - 5)), 0);
  std::vector<Event> all;
  ASSERT_NO_FATAL_FAILURE(Trace({"open", q_}, dir_, &all));
  const std::vector<Event> ev = Phase(all, "open", "opened");
  SCOPED_TRACE("open of the torn log:\n" + Show(ev));
  auto is_side = [&](const std::string& p) {
    return p.rfind(q_ + ".cut-", 0) == 0 || p.rfind(q_ + ".damaged-", 0) == 0;
  };
  const size_t w = Last(ev, WriteTo(is_side));
  ASSERT_NE(w, kNone) << "the torn tail was not copied to a side file";
  const std::string side = ev[w].path;
  const size_t sync = First(ev, SyncOf(side), w);
  ASSERT_NE(sync, kNone) << "the side file " << side << " was not fdatasync'ed after its last write";
  const size_t dsync = First(ev, SyncOf(dir_), sync);
  ASSERT_NE(dsync, kNone) << "the directory was not fsync'ed after the side file was made";
  const size_t cut = First(ev, Call("ftruncate", q_));
  ASSERT_NE(cut, kNone) << "the log was not truncated";
  EXPECT_GT(cut, dsync) << "the log was cut before the side file and its directory entry were durable";
  EXPECT_NE(First(ev, SyncOf(q_), cut), kNone) << "the log was not fdatasync'ed after the cut";
}

// The trace reader itself: descriptors named by -y, renames by path or
// relative to a directory descriptor, split calls, marks.
TEST(SyscallOrderParseTest, ReadsDescriptorsRenamesAndMarks) {
  const std::vector<Event> ev = ParseTrace(
      "10 write(3</dev/null>, \"mq-mark:open\", 12) = 12\n"
      "10 pwrite64(5</d/q.compact>, \"x\", 1, 0) = 1\n"
      "11 fdatasync(5</d/q.compact> <unfinished ...>\n"
      "10 renameat2(7</d>, \"q.compact\", 7</d>, \"q\", 0) = 0\n"
      "11 <... fdatasync resumed>) = 0\n"
      "10 rename(\"/d/a\", \"/d/b\") = -1 ENOENT (No such file or directory)\n"
      "10 fsync(7</d>) = 0\n"
      "10 ftruncate(5</d/q (deleted)>, 8) = 0\n"
      "10 +++ exited with 0 +++\n");
  ASSERT_EQ(ev.size(), 7u) << Show(ev);
  EXPECT_EQ(ev[0].mark, "open");
  EXPECT_EQ(ev[1].call, "write");
  EXPECT_EQ(ev[1].path, "/d/q.compact");
  EXPECT_EQ(ev[2].call, "fdatasync");
  EXPECT_EQ(ev[3].call, "rename");
  EXPECT_EQ(ev[3].path, "/d/q.compact");
  EXPECT_EQ(ev[3].path2, "/d/q");
  EXPECT_FALSE(ev[4].ok);
  EXPECT_EQ(ev[5].path, "/d");
  EXPECT_EQ(ev[6].path, "/d/q");
}

}  // namespace
}  // namespace mq
