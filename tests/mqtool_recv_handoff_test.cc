// `mqtool recv --socket PATH` under a supervisor: with MQ_SOCKET_FD and
// MQ_SOCKET naming PATH in its environment it adopts the socket it was
// given (docs/supervision.md), and leaves it in place when it exits.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mailbox_testing.h"
#include "mq/sender.h"

namespace mq {
namespace {

class MqtoolRecvHandoffTest : public ::testing::Test {
 protected:
  // Runs mqtool recv with `pass` as descriptor 3 (if >= 0) and `env` added
  // to the environment; returns its exit code (stdout and stderr in out_, err_).
  int RunRecv(const std::vector<std::string>& args, int pass, const std::vector<std::string>& env) {
    const std::string out = dir_.File("out"), err = dir_.File("err");
    pid_t pid = ::fork();
    if (pid == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(o, 1);
      ::dup2(e, 2);
      // dup2 clears close-on-exec, except when pass is 3 already.
      if (pass >= 0 && pass != 3) ::dup2(pass, 3);
      if (pass == 3) ::fcntl(3, F_SETFD, 0);
      for (const std::string& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<std::string> argv = {test::MqtoolPath(), "recv"};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
    EXPECT_GT(pid, 0);
    int rc = test::WaitProcess(pid, std::chrono::seconds(30));
    out_ = test::ReadFileOrDie(out);
    err_ = test::ReadFileOrDie(err);
    return rc;
  }
  test::TempDir dir_;
  std::string socket_ = dir_.File("sock"), queue_ = dir_.File("queue");
  std::string out_, err_;
};

TEST_F(MqtoolRecvHandoffTest, RecvAdoptsTheSocketNamedInTheEnvironmentAndLeavesIt) {
  const int owner = test::BindSupervisedSocket(socket_);
  // Sent while no actor runs: they wait in the kernel for the adopter.
  ASSERT_TRUE(Send(socket_, "m1").ok());
  ASSERT_TRUE(Send(socket_, "m2").ok());
  EXPECT_EQ(RunRecv({queue_, "--socket", socket_, "--count", "2", "--timeout", "20"}, owner,
                    {"MQ_SOCKET_FD=3", "MQ_SOCKET=" + socket_}),
            0)
      << err_;
  EXPECT_EQ(out_, "m1\nm2\n");
  struct stat st;
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0) << "recv unlinked the supervisor's socket";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  Status s = Send(socket_, "for the next actor");
  EXPECT_TRUE(s.ok()) << s.ToString();
  ::close(owner);
}

TEST_F(MqtoolRecvHandoffTest, RecvRefusesADescriptorThatIsNotTheSocket) {
  const int owner = test::BindSupervisedSocket(socket_);
  const int file = ::open(dir_.File("plain").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0);
  EXPECT_NE(RunRecv({queue_, "--socket", socket_, "--count", "1", "--timeout", "5"}, file,
                    {"MQ_SOCKET_FD=3", "MQ_SOCKET=" + socket_}),
            0);
  EXPECT_NE(err_.find("descriptor 3"), std::string::npos) << err_;
  EXPECT_NE(err_.find("is not a socket"), std::string::npos) << err_;
  EXPECT_FALSE(test::FileExists(queue_)) << "a refused hand-off created the queue";
  ::close(file);
  ::close(owner);
}

TEST_F(MqtoolRecvHandoffTest, RecvBindsItsOwnPathWhenTheEnvironmentNamesAnother) {
  const std::string other = dir_.File("other.sock");
  const int owner = test::BindSupervisedSocket(other);
  ASSERT_TRUE(Send(other, "not for recv").ok());
  pid_t sender = ::fork();
  if (sender == 0) {
    // Waits for recv's own socket, then sends to it.
    for (int i = 0; i < 2000 && !Send(socket_, "mine").ok(); ++i) ::usleep(5000);
    ::_exit(0);
  }
  EXPECT_EQ(RunRecv({queue_, "--socket", socket_, "--count", "1", "--timeout", "20"}, owner,
                    {"MQ_SOCKET_FD=3", "MQ_SOCKET=" + other}),
            0)
      << err_;
  EXPECT_EQ(out_, "mine\n");
  EXPECT_EQ(test::WaitProcess(sender), 0);
  ::close(owner);
}

}  // namespace
}  // namespace mq
