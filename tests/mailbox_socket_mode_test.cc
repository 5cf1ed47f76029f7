// The mailbox socket file has its mode before anyone can reach it
// (docs/mailbox.md, "The socket"): it never appears at its path with any
// mode but socket_mode, whatever the umask, and no path lookup after the
// bind can be redirected by a symlink planted in the socket's directory.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <set>
#include <thread>

#include <chrono>

#include "mailbox_testing.h"
#include "mq/mailbox.h"

namespace mq {
namespace {

// Sets the umask for the test's lifetime.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

class MailboxSocketModeTest : public ::testing::Test {
 protected:
  void SetUp() override { opt_ = test::OptionsIn(dir_); }
  mode_t SocketMode() {
    struct stat st;
    if (::lstat(opt_.socket_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return 01000000;
    return st.st_mode & 07777;
  }
  test::TempDir dir_;
  MailboxOptions opt_;
};

TEST_F(MailboxSocketModeTest, ModeIsExactlyTheRequestedOneWhateverTheUmask) {
  for (mode_t umask : {0000, 0022, 0077, 0777}) {
    for (mode_t mode : {0600, 0660, 0666, 0620}) {
      ScopedUmask u(umask);
      opt_.socket_mode = mode;
      auto mb = test::OpenMailboxOrDie(opt_);
      EXPECT_EQ(SocketMode(), mode) << std::oct << "umask 0" << umask << " mode 0" << mode;
      ASSERT_TRUE(mb->Close().ok());
    }
  }
}

// Where unshare is refused (a sandbox's seccomp filter), the bind keeps the
// process umask and the bits it removed are added on the socket file itself:
// the mode still ends exactly as requested. A child installs a filter that
// fails unshare with EPERM, then opens a mailbox under umask 022.
TEST_F(MailboxSocketModeTest, ModeIsExactEvenWhereUnshareIsRefused) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(code) / sizeof(code[0])), code};
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
      ::_exit(10);
    if (::unshare(CLONE_FS) == 0 || errno != EPERM) ::_exit(11);  // the filter works
    ::umask(022);
    opt_.socket_mode = 0666;
    std::unique_ptr<Mailbox> mb;
    if (!Mailbox::Open(opt_).MoveTo(&mb).ok()) ::_exit(12);
    const mode_t m = SocketMode();
    (void)mb->Close();
    ::_exit(m == 0666 ? 0 : 13);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0) << "10: no filter, 11: unshare not refused, 12: open failed, 13: wrong mode";
}

// A watcher looks at the path as fast as it can while mailboxes open and
// close there under umask 0 (a bound socket would be 0777 before a chmod).
TEST_F(MailboxSocketModeTest, SocketNeverAppearsAtItsPathWithAnotherMode) {
  ScopedUmask u(0);
  opt_.socket_mode = 0600;
  std::atomic<bool> stop{false};
  std::set<mode_t> seen;
  long looks = 0;
  std::thread watcher([&] {
    struct stat st;
    while (!stop.load(std::memory_order_relaxed)) {
      if (::lstat(opt_.socket_path.c_str(), &st) == 0) {
        seen.insert(st.st_mode & 07777);
        ++looks;
      }
    }
  });
  for (int i = 0; i < 150; ++i) {
    auto mb = test::OpenMailboxOrDie(opt_);
    ASSERT_TRUE(mb->Close().ok());
  }
  stop.store(true);
  watcher.join();
  EXPECT_GT(looks, 0) << "the watcher never saw the socket";
  EXPECT_EQ(seen, (std::set<mode_t>{0600})) << "modes seen: " << seen.size();
}

// Another user with write access to the socket's directory swaps the socket
// for a symlink to a file of ours the moment it appears. To make that moment
// wide and certain, the mailbox (the helper program's actor) runs under
// strace, which holds each bind for 300 ms before it returns: a chmod of
// the path after bind would then follow the link. The file the link points
// to must keep its mode (the mailbox fails to open instead: its socket is
// gone).
TEST_F(MailboxSocketModeTest, SymlinkPlantedAtTheSocketPathIsNotFollowedToChangeItsTargetsMode) {
  const std::string strace = "/usr/bin/strace";
  if (::access(strace.c_str(), X_OK) != 0) GTEST_SKIP() << "needs " << strace << " to hold the bind";
  const std::string target = dir_.File("secret"), link = dir_.File("link");
  {
    FILE* f = std::fopen(target.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  pid_t pid = test::SpawnProcess({strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=bind", "-e",
                                  "inject=bind:delay_exit=300000", test::HelperPath(), "actor", opt_.socket_path,
                                  opt_.queue_path, "noack"});
  ASSERT_GT(pid, 0);
  struct stat st;
  ASSERT_TRUE(test::WaitUntil(
      [&] { return ::lstat(opt_.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode); }, std::chrono::seconds(20)))
      << "the socket never appeared";
  // Inside the held bind: swap in the link.
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  ASSERT_EQ(::rename(link.c_str(), opt_.socket_path.c_str()), 0);
  // The mailbox finds its socket gone and gives up (or, with a chmod by
  // path, changes the target first).
  EXPECT_NE(test::WaitProcess(pid, std::chrono::seconds(20)), 0);
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u) << std::oct << "the symlink's target became 0" << (st.st_mode & 07777);
}

}  // namespace
}  // namespace mq
