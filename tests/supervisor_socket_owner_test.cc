// BindOwnedSocket (mq/socket_owner.h): the supervisor's socket, with its
// mode from the first instant, never replacing a live or foreign file, and
// adoptable by a mailbox through the environment.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "mq/socket_owner.h"

namespace mq::supervisor {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(SocketOwner, ModeIsSetWhateverTheUmask) {
  test::TempDir dir;
  const mode_t old = ::umask(077);
  auto fd = BindOwnedSocket(dir.File("a.sock"), 0660);
  ::umask(old);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_EQ(ModeOf(dir.File("a.sock")), 0660u);
  ::close(*fd);
}

TEST(SocketOwner, ModeIsExactWithAnEmptyUmask) {
  // (That the file is never more open than the mode, even for an instant, is
  // by construction: fchmod before bind.)
  test::TempDir dir;
  const mode_t old = ::umask(0);
  auto fd = BindOwnedSocket(dir.File("a.sock"), 0600);
  ::umask(old);
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(ModeOf(dir.File("a.sock")), 0600u);
  ::close(*fd);
}

TEST(SocketOwner, ALiveSocketAtThePathIsRefusedAndKeepsWorking) {
  test::TempDir dir;
  auto first = BindOwnedSocket(dir.File("a.sock"), 0600);
  ASSERT_TRUE(first.ok());
  auto second = BindOwnedSocket(dir.File("a.sock"), 0600);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find("a live process is bound"), std::string::npos);
  ASSERT_TRUE(Send(dir.File("a.sock"), "still reaches the first").ok());
  char buf[64];
  EXPECT_EQ(::recv(*first, buf, sizeof(buf), MSG_DONTWAIT), 23);
  ::close(*first);
}

TEST(SocketOwner, AStaleSocketIsReplaced) {
  test::TempDir dir;
  auto old = BindOwnedSocket(dir.File("a.sock"), 0600);
  ASSERT_TRUE(old.ok());
  ::close(*old);  // the file stays, nobody bound: stale
  auto fd = BindOwnedSocket(dir.File("a.sock"), 0600);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  ::close(*fd);
}

TEST(SocketOwner, AFileThatIsNotASocketIsLeftAlone) {
  test::TempDir dir;
  test::WriteFileOrDie(dir.File("a.sock"), "data");
  auto fd = BindOwnedSocket(dir.File("a.sock"), 0600);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(test::ReadFileOrDie(dir.File("a.sock")), "data");
}

TEST(SocketOwner, RelativePathIsRefused) {
  EXPECT_EQ(BindOwnedSocket("a.sock", 0600).status().code(), Status::Code::kInvalidArgument);
}

TEST(SocketOwner, AMailboxAdoptsItThroughTheEnvironment) {
  test::TempDir dir;
  const std::string path = dir.File("a.sock");
  auto owned = BindOwnedSocket(path, 0600);
  ASSERT_TRUE(owned.ok());
  ASSERT_TRUE(Send(path, "waited in the kernel").ok());
  const int passed = ::dup(*owned);
  ::setenv("MQ_SOCKET_FD", std::to_string(passed).c_str(), 1);
  ::setenv("MQ_SOCKET", path.c_str(), 1);
  MailboxOptions o;
  o.queue_path = dir.File("q");
  o.store.sync = SyncPolicy::kNone;
  Status env = InheritSocketFromEnvironment(&o);
  ::unsetenv("MQ_SOCKET_FD");
  ::unsetenv("MQ_SOCKET");
  ASSERT_TRUE(env.ok()) << env.ToString();
  EXPECT_EQ(o.inherit_socket, passed);
  auto mb = test::OpenMailboxOrDie(o);
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"waited in the kernel"}));
  ASSERT_TRUE(mb->Close().ok());
  EXPECT_TRUE(test::FileExists(path));
  ::close(*owned);
}

}  // namespace
}  // namespace mq::supervisor
