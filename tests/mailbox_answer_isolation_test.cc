// Who gets an answer, and whom a reader that never reads can hold up
// (docs/mailbox.md, "Who gets an answer"). The attack: a uid the mailbox
// does not admit binds a reply-style socket, connects it to the mailbox (so
// the kernel does not bound its receive queue: what waits there is charged
// to the mailbox's one send buffer), floods, and never reads. Before the
// fix every refused datagram got an answer, the send buffer filled, and the
// confirmations of admitted senders timed out although their messages were
// stored.
//
// Needs root to run the flooder as nobody (CI runs as root); skipped otherwise.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using std::chrono::seconds;
constexpr uid_t kNobody = 65534;
// Far more answers than the mailbox's send buffer holds (8 MiB at 768 bytes
// of kernel accounting per 16-byte answer is about 11,000).
constexpr int kFlood = 40000;

// Writes v in decimal at out (at most 20 characters); returns how many. No
// allocation: the flooder runs it in a child forked from this process while
// the mailbox's threads run (a lock one of them held at the fork, such as
// ASan's allocator lock, stays held in the child).
size_t WriteDecimal(unsigned long v, char* out) {
  char digits[20];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  return n;
}

// The flooder, in a child switched to nobody: binds a reply-style name,
// connects to the mailbox, sends kFlood datagrams, reports how many got in
// on `ready`, waits for a byte on `go` without ever reading its socket, then
// reports on `result` how many answers were waiting for it. System calls
// only, on memory the parent set up (see WriteDecimal).
int Flood(const std::string& socket_path, int ready, int go, int result) {
  if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) return 100;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 101;
  sockaddr_un me{};
  me.sun_family = AF_UNIX;
  constexpr char kPrefix[] = "\0mq-reply/flood-";  // abstract: a leading NUL
  size_t len = sizeof(kPrefix) - 1;
  std::memcpy(me.sun_path, kPrefix, len);
  len += WriteDecimal(static_cast<unsigned long>(::getpid()), me.sun_path + len);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&me), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len)) != 0)
    return 102;
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, socket_path.c_str(), sizeof(to.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) return 103;
  const char junk[16] = "nobody floods";
  int sent = 0;
  while (sent < kFlood) {
    if (::send(fd, junk, sizeof(junk), 0) == static_cast<ssize_t>(sizeof(junk))) ++sent;
    else if (errno != EINTR) break;
  }
  if (::write(ready, &sent, sizeof(sent)) != sizeof(sent)) return 104;
  char b;
  if (::read(go, &b, 1) != 1) return 105;
  int answers = 0;
  char buf[2048];
  while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) ++answers;
  if (::write(result, &answers, sizeof(answers)) != sizeof(answers)) return 106;
  return 0;
}

class AnswerIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the flooder as nobody";
    opt_ = test::OptionsIn(dir_);
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // nobody may reach the socket
  }
  test::TempDir dir_;
  MailboxOptions opt_;
};

TEST_F(AnswerIsolationTest, UnadmittedFlooderThatNeverReadsGetsNoAnswerAndEveryAdmittedConfirmationArrives) {
  opt_.socket_mode = 0666;  // nobody may write to the socket; it is still not admitted
  auto mb = test::OpenMailboxOrDie(opt_);
  int ready[2], go[2], result[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(go), 0);
  ASSERT_EQ(::pipe(result), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(Flood(opt_.socket_path, ready[1], go[0], result[1]));
  ::close(ready[1]);
  ::close(go[0]);
  ::close(result[1]);

  int sent = 0;
  ASSERT_EQ(::read(ready[0], &sent, sizeof(sent)), static_cast<ssize_t>(sizeof(sent))) << "the flooder failed";
  EXPECT_EQ(sent, kFlood);
  // Every flooding datagram has been read and refused before the admitted
  // sender starts: whatever answers the flood earned are already queued.
  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().rejected_not_admitted == static_cast<uint64_t>(sent); },
                              seconds(30)))
      << mb->Stats().rejected_not_admitted << " of " << sent << " refused";

  // The admitted sender (root) keeps its flooder (still connected, never
  // reading) alive and gets every confirmation, none timing out.
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, {}).MoveTo(&cs).ok());
  constexpr int kAdmitted = 200;
  int confirmed = 0;
  for (int i = 0; i < kAdmitted; ++i) {
    uint64_t seq = 0;
    Status s = cs->SendConfirmed("root-" + std::to_string(i), seconds(10)).MoveTo(&seq);
    if (!s.ok()) {
      ADD_FAILURE() << "confirmation " << i << " did not arrive: " << s.ToString();
      break;
    }
    ++confirmed;
  }
  EXPECT_EQ(confirmed, kAdmitted);

  // Now the flooder looks at what it got: nothing.
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  int answers = -1;
  EXPECT_EQ(::read(result[0], &answers, sizeof(answers)), static_cast<ssize_t>(sizeof(answers)));
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "flooder status " << st;
  EXPECT_EQ(answers, 0) << "an unadmitted sender got answers";
  for (int fd : {ready[0], go[1], result[0]}) ::close(fd);

  EXPECT_TRUE(test::WaitUntil([&] { return mb->Stats().confirmations == static_cast<uint64_t>(kAdmitted); }))
      << mb->Stats().confirmations;
  EXPECT_EQ(mb->Stats().stored, static_cast<uint64_t>(kAdmitted));
  EXPECT_EQ(mb->Stats().rejected_not_admitted, static_cast<uint64_t>(sent));
}

}  // namespace
}  // namespace mq
