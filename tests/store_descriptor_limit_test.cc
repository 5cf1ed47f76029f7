// A store or a mailbox that cannot get a descriptor (EMFILE) says so,
// naming RLIMIT_NOFILE and its value (docs/mailbox.md, "Descriptors"). Each
// case runs in a forked child whose limit leaves room for 0, 1, 2, ... more
// descriptors, so that every descriptor an open takes is the one refused
// in some case.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "mq/mailbox.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {
using namespace mq::test;

// Runs open() in a child whose RLIMIT_NOFILE leaves `room` descriptors free
// (the lowest free number plus room). The child exits 0 if open() succeeded,
// 1 if it failed naming RLIMIT_NOFILE and the limit, 2 otherwise (its
// message on the pipe).
int OpenWithRoom(int room, const std::function<Status()>& open, std::string* message) {
  int p[2];
  if (::pipe(p) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[0]);
    const int lowest = ::dup(0);
    ::close(lowest);
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(3);
    rl.rlim_cur = static_cast<rlim_t>(lowest + room);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(3);
    const Status s = open();
    if (s.ok()) ::_exit(0);
    const std::string m = s.ToString();
    (void)!::write(p[1], m.data(), m.size());
    const bool named = m.find("RLIMIT_NOFILE of " + std::to_string(rl.rlim_cur) + " ") != std::string::npos;
    ::_exit(named ? 1 : 2);
  }
  ::close(p[1]);
  char buf[4096];
  ssize_t n;
  message->clear();
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) message->append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  return WaitExitCode(pid);
}

TEST(DescriptorLimitTest, StoreOutOfDescriptorsNamesRlimitNofileAndItsValue) {
  FastTempDir dir;
  int refused = 0;
  for (int room = 0; room < 16; ++room) {
    std::string m;
    const int rc = OpenWithRoom(room, [&] {
      StoreOptions o;
      o.sync = SyncPolicy::kNone;
      auto s = Store::Open(dir.File("q" + std::to_string(room)), o);
      return s.ok() ? (*s)->Close() : s.status();
    }, &m);
    if (rc == 0) break;  // room enough
    ++refused;
    EXPECT_EQ(rc, 1) << "room for " << room << " descriptors: " << m;
  }
  EXPECT_GE(refused, 5) << "a store should need several descriptors";
}

TEST(DescriptorLimitTest, MailboxOutOfDescriptorsNamesRlimitNofileAndItsValue) {
  FastTempDir dir;
  int refused = 0;
  for (int room = 0; room < 32; ++room) {
    std::string m;
    const int rc = OpenWithRoom(room, [&] {
      MailboxOptions o;
      o.queue_path = dir.File("q" + std::to_string(room));
      o.socket_path = dir.File("s" + std::to_string(room));
      o.store.sync = SyncPolicy::kNone;
      auto mb = Mailbox::Open(o);
      return mb.ok() ? (*mb)->Close() : mb.status();
    }, &m);
    if (rc == 0) break;
    ++refused;
    EXPECT_EQ(rc, 1) << "room for " << room << " descriptors: " << m;
  }
  EXPECT_GE(refused, 7) << "a mailbox should need several descriptors";
}

}  // namespace
}  // namespace mq
