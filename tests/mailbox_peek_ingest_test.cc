// Zero-loss ingest (docs/mailbox.md, "Ingest"): the ingest thread peeks at
// the datagrams and takes them out of the socket only once they are in the
// log, so a mailbox process killed with SIGKILL on an adopted socket (the
// supervisor keeps it) loses none of them: the next process reads them
// again. A kill between the append and the discard stores the batch twice,
// and no more. Peeking installs a passed descriptor each time: the mailbox
// keeps exactly one copy of an answer channel and none of anything else.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "mailbox_testing.h"
#include "mq/env.h"
#include "mq/mailbox.h"
#include "reply_format.h"

namespace mq {
namespace {

// An Env that SIGKILLs the process at the first write of log bytes holding
// `marker`, before the write reaches the file or right after it.
class KillAtWriteEnv final : public Env {
 public:
  enum class When { kBefore, kAfter };
  KillAtWriteEnv(std::string marker, When when) : marker_(std::move(marker)), when_(when) {}

  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& dir) override {
    MQ_ASSIGN_OR_RETURN(std::unique_ptr<Directory> base, Env::Default()->OpenDirectory(dir));
    return std::unique_ptr<Directory>(new Dir(std::move(base), this));
  }
  std::string BootId() override { return Env::Default()->BootId(); }
  uint64_t NowMicros() override { return Env::Default()->NowMicros(); }

 private:
  class KillingFile final : public File {
   public:
    KillingFile(std::unique_ptr<File> base, KillAtWriteEnv* env) : base_(std::move(base)), env_(env) {}
    Status Read(uint64_t offset, size_t n, char* dst, size_t* got) override { return base_->Read(offset, n, dst, got); }
    Status Write(uint64_t offset, const char* src, size_t n) override {
      const bool hit = std::string_view(src, n).find(env_->marker_) != std::string_view::npos;
      if (hit && env_->when_ == When::kBefore) ::kill(::getpid(), SIGKILL);
      Status s = base_->Write(offset, src, n);
      if (hit && env_->when_ == When::kAfter) ::kill(::getpid(), SIGKILL);
      return s;
    }
    Status Overwrite(uint64_t offset, const char* src, size_t n) override { return base_->Overwrite(offset, src, n); }
    Status Sync() override { return base_->Sync(); }
    Status Truncate(uint64_t size) override { return base_->Truncate(size); }
    Result<uint64_t> Size() override { return base_->Size(); }
    const std::string& path() const override { return base_->path(); }

   private:
    std::unique_ptr<File> base_;
    KillAtWriteEnv* env_;
  };
  class Dir final : public Directory {
   public:
    Dir(std::unique_ptr<Directory> base, KillAtWriteEnv* env) : base_(std::move(base)), env_(env) {}
    Result<std::unique_ptr<File>> OpenFile(const std::string& name, OpenMode mode, mode_t perms) override {
      MQ_ASSIGN_OR_RETURN(std::unique_ptr<File> f, base_->OpenFile(name, mode, perms));
      return std::unique_ptr<File>(new KillingFile(std::move(f), env_));
    }
    Result<FileInfo> Stat(const std::string& name) override { return base_->Stat(name); }
    Status Sync() override { return base_->Sync(); }
    Status Rename(const std::string& from, const std::string& to) override { return base_->Rename(from, to); }
    Status Remove(const std::string& name) override { return base_->Remove(name); }
    Result<std::unique_ptr<FileLock>> LockFile(const std::string& name, mode_t perms, pid_t* holder_pid) override {
      return base_->LockFile(name, perms, holder_pid);
    }
    pid_t LockHolder(const std::string& name) override { return base_->LockHolder(name); }
    int native_handle() const override { return base_->native_handle(); }
    const std::string& path() const override { return base_->path(); }

   private:
    std::unique_ptr<Directory> base_;
    KillAtWriteEnv* env_;
  };

  std::string marker_;
  When when_;
};

// Sends `payload` to `path` as a plain datagram from an unbound socket.
void SendPlain(const std::string& path, const std::string& payload) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  const ssize_t n = ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  EXPECT_EQ(n, static_cast<ssize_t>(payload.size())) << std::strerror(errno);
  ::close(fd);
}

// Descriptors of this process that refer to the socket with inode `ino`.
int DescriptorsOf(ino_t ino) {
  int count = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    struct stat st;
    const std::string p = std::string("/proc/self/fd/") + e->d_name;
    if (::stat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino) ++count;
  }
  ::closedir(d);
  return count;
}

class PeekIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opt_ = test::OptionsIn(dir_);
    owner_ = test::BindSupervisedSocket(opt_.socket_path);
    ASSERT_GE(owner_, 0);
  }
  void TearDown() override {
    if (owner_ >= 0) ::close(owner_);
  }

  // Forks a mailbox process on a dup of the supervisor's socket whose store
  // kills it at the first log write of a payload holding "peek-" (`when`).
  // Returns once it has opened (or died first, if datagrams were queued
  // before it started: `queued`); *pid is the child.
  void StartDoomedMailbox(KillAtWriteEnv::When when, bool queued, pid_t* pid) {
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    *pid = ::fork();
    ASSERT_GE(*pid, 0);
    if (*pid == 0) {
      ::close(ready[0]);
      KillAtWriteEnv env("peek-", when);
      MailboxOptions o = opt_;
      o.inherit_socket = ::dup(owner_);
      o.store.env = &env;
      std::unique_ptr<Mailbox> mb;
      if (!Mailbox::Open(o).MoveTo(&mb).ok()) ::_exit(3);
      if (::write(ready[1], "r", 1) != 1) ::_exit(4);
      ::sleep(20);  // the ingest thread kills this process long before
      ::_exit(5);
    }
    ::close(ready[1]);
    char c = 0;
    const ssize_t n = ::read(ready[0], &c, 1);
    if (!queued) {
      EXPECT_EQ(n, 1) << "the mailbox process did not open";
    }
    ::close(ready[0]);
  }

  static void ExpectKilled(pid_t pid) {
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
        << "the mailbox process was not killed at its write (status " << st << ")";
  }

  // Everything the next process on the socket delivers, until nothing more.
  std::vector<std::string> DeliveredByTheNextProcess() {
    MailboxOptions o = opt_;
    o.inherit_socket = ::dup(owner_);
    std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
    std::vector<std::string> got;
    if (mb == nullptr) return got;
    Message m;
    while (mb->Receive(Pattern::Any(), std::chrono::milliseconds(300), &m).ok()) got.push_back(m.payload);
    return got;
  }

  test::TempDir dir_;
  MailboxOptions opt_;
  int owner_ = -1;
};

TEST_F(PeekIngestTest, KillBeforeTheAppendLeavesTheBatchInTheSocketForTheNextProcess) {
  pid_t pid = -1;
  StartDoomedMailbox(KillAtWriteEnv::When::kBefore, false, &pid);
  const std::vector<std::string> sent = {"peek-0", "peek-1", "peek-2", "peek-3", "peek-4"};
  for (const std::string& p : sent) SendPlain(opt_.socket_path, p);
  ExpectKilled(pid);
  EXPECT_EQ(DeliveredByTheNextProcess(), sent) << "datagrams read by the killed process were lost";
}

TEST_F(PeekIngestTest, KillBetweenAppendAndDiscardStoresThatBatchTwiceAndLosesNothing) {
  // Queued before the mailbox starts: its first append holds the first k of
  // them (k is 1 here: a mailbox that adopts a socket peeks at the head one
  // datagram at a time first), and it is killed before it takes them out.
  const std::vector<std::string> sent = {"peek-0", "peek-1", "peek-2", "peek-3", "peek-4"};
  for (const std::string& p : sent) SendPlain(opt_.socket_path, p);
  pid_t pid = -1;
  StartDoomedMailbox(KillAtWriteEnv::When::kAfter, true, &pid);
  ExpectKilled(pid);
  // The documented bound, exactly: the killed batch (the first k) once from
  // the log, then everything from the socket; nothing else twice, nothing lost.
  const std::vector<std::string> got = DeliveredByTheNextProcess();
  ASSERT_GT(got.size(), sent.size()) << "the killed batch was not stored twice: was it taken out before the append?";
  const size_t k = got.size() - sent.size();
  ASSERT_LE(k, sent.size());
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(k)),
            std::vector<std::string>(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(k)));
  EXPECT_EQ(std::vector<std::string>(got.begin() + static_cast<std::ptrdiff_t>(k), got.end()), sent);
}

// A datagram under the channel prefix that passes one end of a socketpair,
// sent from a socket bound at `name`; returns the other end (the sender's).
int SendWithChannel(const std::string& path, const std::string& name, const std::string& payload, ino_t* passed) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) return -1;
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un self{};
  self.sun_family = AF_UNIX;
  std::memcpy(self.sun_path, name.data(), name.size());
  EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&self),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())),
            0)
      << std::strerror(errno);
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::strncpy(to.sun_path, path.c_str(), sizeof(to.sun_path) - 1);
  struct stat st;
  EXPECT_EQ(::fstat(pair[1], &st), 0);
  *passed = st.st_ino;
  iovec iov{const_cast<char*>(payload.data()), payload.size()};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr h{};
  h.msg_name = &to;
  h.msg_namelen = sizeof(to);
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = ctrl;
  h.msg_controllen = sizeof(ctrl);
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pair[1], sizeof(int));
  EXPECT_EQ(::sendmsg(s, &h, 0), static_cast<ssize_t>(payload.size())) << std::strerror(errno);
  ::close(pair[1]);
  ::close(s);
  return pair[0];
}

TEST_F(PeekIngestTest, AnswerChannelPassedWithAMessageIsHeldExactlyOnce) {
  MailboxOptions o = opt_;
  o.inherit_socket = ::dup(owner_);
  std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
  ASSERT_NE(mb, nullptr);
  const std::string name = std::string(reply::kChannelPrefix) + "peek/" + std::to_string(::getpid());
  ino_t passed = 0;
  const int mine = SendWithChannel(opt_.socket_path, name, "with-channel", &passed);
  ASSERT_GE(mine, 0);
  Message m;
  ASSERT_TRUE(mb->Receive(Pattern::Any(), std::chrono::seconds(5), &m).ok());
  EXPECT_EQ(m.payload, "with-channel");
  // The answer comes through the channel: the mailbox kept the descriptor.
  char answer[reply::kSize * reply::kMaxBatch];
  pollfd p{mine, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no answer through the channel";
  const ssize_t n = ::recv(mine, answer, sizeof(answer), 0);
  EXPECT_EQ(n, static_cast<ssize_t>(reply::kSize));
  // Peeked once, then discarded without a control buffer: one descriptor.
  EXPECT_EQ(DescriptorsOf(passed), 1) << "the peek or the discard installed the channel again (or lost it)";
  ::close(mine);
}

TEST_F(PeekIngestTest, DescriptorPassedByAPlainSenderIsClosed) {
  MailboxOptions o = opt_;
  o.inherit_socket = ::dup(owner_);
  std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
  ASSERT_NE(mb, nullptr);
  // Not under the reply prefix: the mailbox stores bytes, never descriptors.
  const std::string name = std::string("\0mq-peek-plain/", 15) + std::to_string(::getpid());
  ino_t passed = 0;
  const int mine = SendWithChannel(opt_.socket_path, name, "plain-with-fd", &passed);
  ASSERT_GE(mine, 0);
  Message m;
  ASSERT_TRUE(mb->Receive(Pattern::Any(), std::chrono::seconds(5), &m).ok());
  EXPECT_EQ(m.payload, "plain-with-fd");
  EXPECT_EQ(DescriptorsOf(passed), 0) << "a descriptor passed by a plain sender stayed open";
  ::close(mine);
}

TEST_F(PeekIngestTest, OversizedDatagramAmongOthersIsRefusedAloneAndTheRestStoredInOrder) {
  // A datagram larger than max_message_size is peeked in part; the batch
  // must end with it, or the next entry would hold the rest of its bytes.
  opt_.max_message_size = 16;
  MailboxOptions o = opt_;
  o.inherit_socket = ::dup(owner_);
  SendPlain(opt_.socket_path, "small-0");
  SendPlain(opt_.socket_path, std::string(40, 'X'));
  SendPlain(opt_.socket_path, "small-1");
  SendPlain(opt_.socket_path, std::string(100, 'Y'));
  SendPlain(opt_.socket_path, "small-2");
  std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
  ASSERT_NE(mb, nullptr);
  std::vector<std::string> got;
  Message m;
  while (mb->Receive(Pattern::Any(), std::chrono::milliseconds(300), &m).ok()) got.push_back(m.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"small-0", "small-1", "small-2"}));
  EXPECT_EQ(mb->Stats().rejected_too_large, 2u);
  EXPECT_EQ(mb->Stats().datagrams, 5u);
}

// The kernel skips a zero-length datagram that was peeked before when a peek
// reaches it at offset 0 (so that peeking never spins on it). These two
// leave one peeked and not taken out, and check that it is still stored once,
// in its place, and nothing twice.
TEST_F(PeekIngestTest, EmptyDatagramPeekedAfterAnOversizedOneIsStoredOnceInOrder) {
  opt_.max_message_size = 16;
  MailboxOptions o = opt_;
  o.inherit_socket = ::dup(owner_);
  SendPlain(opt_.socket_path, std::string(40, 'X'));  // the batch is cut after it
  SendPlain(opt_.socket_path, "");
  SendPlain(opt_.socket_path, "after-0");
  SendPlain(opt_.socket_path, "after-1");
  std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
  ASSERT_NE(mb, nullptr);
  std::vector<std::string> got;
  Message m;
  while (mb->Receive(Pattern::Any(), std::chrono::milliseconds(300), &m).ok()) got.push_back(m.payload);
  EXPECT_EQ(got, (std::vector<std::string>{"", "after-0", "after-1"}));
}

TEST_F(PeekIngestTest, EmptyDatagramPeekedByAKilledProcessIsStoredOnceInOrder) {
  const std::vector<std::string> sent = {"peek-0", "", "peek-1"};
  for (const std::string& p : sent) SendPlain(opt_.socket_path, p);
  pid_t pid = -1;
  StartDoomedMailbox(KillAtWriteEnv::When::kBefore, true, &pid);
  ExpectKilled(pid);
  EXPECT_EQ(DeliveredByTheNextProcess(), sent);
}

}  // namespace
}  // namespace mq
