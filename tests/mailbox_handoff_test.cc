// The socket hand-off contract (docs/supervision.md): a mailbox adopts a
// socket bound by another process (its supervisor) only after checking what
// it is, and never unlinks or shuts it down, so datagrams sent between two
// users of the socket wait in the kernel.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"

namespace mq {
namespace {

using test::ReceivePayloads;

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

bool IsSocketFile(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

class MailboxHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override { opt_ = test::OptionsIn(dir_); }
  void TearDown() override {
    if (owner_ >= 0) ::close(owner_);
  }
  // The supervisor's socket at opt_.socket_path; the mailbox adopts a dup.
  int OwnAndPass() {
    owner_ = test::BindSupervisedSocket(opt_.socket_path);
    return ::dup(owner_);
  }
  // Opening with `fd` fails with kInvalidArgument whose message contains
  // `says`; the fd stays open and no queue is created.
  void ExpectRefused(int fd, const std::string& says) {
    opt_.inherit_socket = fd;
    std::unique_ptr<Mailbox> mb;
    Status s = Mailbox::Open(opt_).MoveTo(&mb);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(says), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("descriptor " + std::to_string(fd)), std::string::npos) << s.message();
    EXPECT_FALSE(test::FileExists(opt_.queue_path)) << "a refused hand-off created the queue";
    if (fd >= 0 && says != "is not open") {
      EXPECT_TRUE(IsOpen(fd));
    }
  }
  test::TempDir dir_;
  MailboxOptions opt_;
  int owner_ = -1;
};

TEST_F(MailboxHandoffTest, AdoptedSocketReceivesWhatWaitedInTheKernel) {
  const int fd = OwnAndPass();
  ASSERT_TRUE(Send(opt_.socket_path, "sent before the actor started").ok());
  opt_.inherit_socket = fd;
  auto mb = test::OpenMailboxOrDie(opt_);
  ASSERT_TRUE(Send(opt_.socket_path, "sent after").ok());
  EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 2),
            (std::vector<std::string>{"sent before the actor started", "sent after"}));
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC) << "an adopted socket must not leak into the actor's children";
}

TEST_F(MailboxHandoffTest, CloseNeitherUnlinksNorShutsDownTheAdoptedSocket) {
  {
    opt_.inherit_socket = OwnAndPass();
    auto mb = test::OpenMailboxOrDie(opt_);
    ASSERT_TRUE(Send(opt_.socket_path, "one").ok());
    EXPECT_EQ(ReceivePayloads(mb.get(), Pattern::Any(), 1), (std::vector<std::string>{"one"}));
    ASSERT_TRUE(mb->Close().ok());
  }
  EXPECT_TRUE(IsSocketFile(opt_.socket_path)) << "the supervisor's socket file was unlinked";
  // Between two actors: the datagram waits in the kernel (a shut-down socket
  // would refuse it with EPIPE).
  Status sent = Send(opt_.socket_path, "between two actors");
  ASSERT_TRUE(sent.ok()) << sent.ToString();
  opt_.inherit_socket = ::dup(owner_);
  auto next = test::OpenMailboxOrDie(opt_);
  EXPECT_EQ(ReceivePayloads(next.get(), Pattern::Any(), 1), (std::vector<std::string>{"between two actors"}));
}

TEST_F(MailboxHandoffTest, DescriptorThatIsNotOpenIsRefused) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::close(fd);  // the lowest free number: certainly not open now
  ExpectRefused(fd, "is not open");
}

TEST_F(MailboxHandoffTest, RegularFileIsRefused) {
  int fd = ::open(dir_.File("file").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ExpectRefused(fd, "is not a socket");
  ::close(fd);
}

TEST_F(MailboxHandoffTest, StreamSocketAtThePathIsRefused) {
  int fd = test::BindSupervisedSocket(opt_.socket_path, SOCK_STREAM);
  ExpectRefused(fd, "is not a datagram socket (it is SOCK_STREAM)");
  ::close(fd);
}

TEST_F(MailboxHandoffTest, InetDatagramSocketIsRefused) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ExpectRefused(fd, "is not an AF_UNIX socket");
  ::close(fd);
}

TEST_F(MailboxHandoffTest, SocketBoundElsewhereIsRefused) {
  int fd = test::BindSupervisedSocket(dir_.File("other.sock"));
  ExpectRefused(fd, "is bound to " + dir_.File("other.sock") + ", another path");
  EXPECT_FALSE(IsSocketFile(opt_.socket_path));
  ::close(fd);
}

TEST_F(MailboxHandoffTest, UnboundSocketIsRefused) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ExpectRefused(fd, "is not bound");
  ::close(fd);
}

TEST_F(MailboxHandoffTest, ConnectedSocketIsRefused) {
  const int peer = test::BindSupervisedSocket(dir_.File("peer.sock"));
  const int fd = OwnAndPass();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, dir_.File("peer.sock").c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  ExpectRefused(fd, "is connected to a peer");
  ::close(fd);
  ::close(peer);
}

// ---- InheritSocketFromEnvironment ----

class HandoffEnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("MQ_SOCKET_FD");
    ::unsetenv("MQ_SOCKET");
    ::unsetenv("MQ_QUEUE");
  }
};

TEST_F(HandoffEnvTest, WithoutTheVariablesNothingChanges) {
  MailboxOptions o;
  o.socket_path = "/x.sock";
  ASSERT_TRUE(InheritSocketFromEnvironment(&o).ok());
  EXPECT_EQ(o.inherit_socket, -1);
  EXPECT_EQ(o.socket_path, "/x.sock");
}

TEST_F(HandoffEnvTest, FillsTheDescriptorPathAndQueue) {
  ::setenv("MQ_SOCKET_FD", "7", 1);
  ::setenv("MQ_SOCKET", "/run/a.sock", 1);
  ::setenv("MQ_QUEUE", "/var/a.q", 1);
  MailboxOptions o;
  ASSERT_TRUE(InheritSocketFromEnvironment(&o).ok());
  EXPECT_EQ(o.inherit_socket, 7);
  EXPECT_EQ(o.socket_path, "/run/a.sock");
  EXPECT_EQ(o.queue_path, "/var/a.q");
}

TEST_F(HandoffEnvTest, AnotherSocketPathIsNotAdopted) {
  ::setenv("MQ_SOCKET_FD", "7", 1);
  ::setenv("MQ_SOCKET", "/run/a.sock", 1);
  MailboxOptions o;
  o.socket_path = "/run/b.sock";
  ASSERT_TRUE(InheritSocketFromEnvironment(&o).ok());
  EXPECT_EQ(o.inherit_socket, -1);
  EXPECT_EQ(o.socket_path, "/run/b.sock");
}

TEST_F(HandoffEnvTest, BadDescriptorNumberIsAClearError) {
  ::setenv("MQ_SOCKET", "/run/a.sock", 1);
  for (const char* bad : {"", "x", "3x", "-1", "99999999999"}) {
    ::setenv("MQ_SOCKET_FD", bad, 1);
    MailboxOptions o;
    Status s = InheritSocketFromEnvironment(&o);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("MQ_SOCKET_FD='" + std::string(bad) + "' is not a descriptor number"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(o.inherit_socket, -1);
  }
}

TEST_F(HandoffEnvTest, DescriptorWithoutPathIsAClearError) {
  ::setenv("MQ_SOCKET_FD", "7", 1);
  MailboxOptions o;
  Status s = InheritSocketFromEnvironment(&o);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("MQ_SOCKET (the path the socket is bound at) is not"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mq
