// One reader that never reads cannot hold up the answers to others
// (docs/mailbox.md, "Answer channels"). The attack needs no other uid: an
// ADMITTED sender binds reply-style names, floods and never reads. Before
// answer channels, every answer left from the mailbox socket, and what a
// reply socket connected to the mailbox left unread was charged to that
// socket's one send buffer (the kernel sets no per-receiver limit there):
// one such reader filled it and every other sender's confirmations timed
// out although their messages were stored.
//
// Three flooders, all of this process's uid (admitted):
//   - kChannel: follows the protocol (passes an answer channel with its
//     first message) and never reads the channel;
//   - kNoChannel: bound under the channel prefix, never passes a channel;
//   - kOldStyle: bound under "\0mq-reply/" alone (answered from the mailbox
//     socket, one answer per datagram, as senders without a channel are),
//     connected, never reads: it fills the mailbox socket's send buffer.
// Then a ConfirmedSender sends kConfirmed messages: each one is confirmed.
// Every answer a flooder earned is delivered to it or dropped and counted.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "unix_socket.h"

namespace mq {
namespace {

using std::chrono::seconds;

// More than a backlog holds (ReplyOutbox::kMaxBacklog, 65,536 answers) plus
// what a channel's or the mailbox socket's send buffer takes, so each
// flooder's answers overflow and are dropped while the mailbox runs.
constexpr int kFlood = 80000;
constexpr int kConfirmed = 200;

enum class Kind { kChannel, kNoChannel, kOldStyle };

struct Flooder {
  int sock = -1;     // bound, connected to the mailbox; sends
  int answers = -1;  // where its answers would arrive (never read until the end)
  int sent = 0;
};

// Binds `fd` to the abstract name (without the leading NUL).
bool BindAbstract(int fd, const std::string& name) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  a.sun_path[0] = '\0';
  std::memcpy(a.sun_path + 1, name.data(), name.size());
  return ::bind(fd, reinterpret_cast<sockaddr*>(&a),
                static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) == 0;
}

bool ConnectPath(int fd, const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
}

// Sends `payload`, with `pass` as SCM_RIGHTS if it is not -1.
bool SendWith(int fd, const std::string& payload, int pass) {
  while (true) {
    if (unix_socket::SendWithFd(fd, payload, pass) == static_cast<ssize_t>(payload.size())) return true;
    if (errno != EINTR) return false;
  }
}

// Sets up a flooder of `kind` and sends kFlood datagrams from it.
Flooder Flood(const std::string& socket_path, Kind kind, int index) {
  Flooder f;
  f.sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (f.sock < 0 || !ConnectPath(f.sock, socket_path)) return f;
  const std::string tag = std::to_string(::getpid()) + "/flood-" + std::to_string(index);
  const std::string name = (kind == Kind::kOldStyle ? "mq-reply/old/" : "mq-reply/chan/") + tag;
  if (!BindAbstract(f.sock, name)) return f;
  int channel = -1;
  if (kind == Kind::kChannel) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) return f;
    f.answers = pair[0];
    channel = pair[1];
  } else {
    f.answers = ::dup(f.sock);
  }
  const std::string junk = "flood";
  for (int i = 0; i < kFlood; ++i) {
    if (!SendWith(f.sock, junk, i == 0 ? channel : -1)) break;
    ++f.sent;
  }
  if (channel >= 0) ::close(channel);  // the mailbox holds the only other end
  return f;
}

// Reads every answer waiting for `f` now; returns how many answers (not
// datagrams) it holds.
// Answers waiting at the flooder; no-channel notices (code 4, docs/mailbox.md,
// "After a restart: the no-channel notice") are not answers: counted in
// *notices.
uint64_t CountAnswers(const Flooder& f, uint64_t* notices) {
  uint64_t n = 0;
  std::array<char, 16 * 64> buf;
  while (true) {
    ssize_t got = ::recv(f.answers, buf.data(), buf.size(), MSG_DONTWAIT);
    if (got < 0) break;
    for (ssize_t at = 0; at + 16 <= got; at += 16) {
      if (buf[static_cast<size_t>(at) + 5] == 4) {
        ++*notices;
      } else {
        ++n;
      }
    }
  }
  return n;
}

TEST(AnswerBoundsTest, FloodersThatNeverReadDelayNoAdmittedConfirmationAndTheirAnswersAreDroppedAndCounted) {
  test::TempDir dir;
  MailboxOptions opt = test::OptionsIn(dir);
  auto mb = test::OpenMailboxOrDie(opt);
  const auto started = std::chrono::steady_clock::now();

  // The floods, one after the other (each blocks while the mailbox's
  // receive queue is full), all stored before the confirming sender starts:
  // every answer they earned is then already sent, parked or dropped.
  std::vector<Flooder> flooders;
  const Kind kinds[] = {Kind::kChannel, Kind::kNoChannel, Kind::kOldStyle};
  for (int i = 0; i < 3; ++i) {
    flooders.push_back(Flood(opt.socket_path, kinds[i], i));
    ASSERT_EQ(flooders.back().sent, kFlood) << "flooder " << i << " could not send: " << std::strerror(errno);
  }
  const uint64_t flood_total = 3 * static_cast<uint64_t>(kFlood);
  ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == flood_total; }, seconds(60)))
      << mb->Stats().stored << " of " << flood_total << " stored";
  // Each flooder's backlog overflowed while it never read: dropped, counted.
  EXPECT_TRUE(test::WaitUntil(
      [&] { return mb->Stats().replies_dropped >= static_cast<uint64_t>(kFlood) + 2; }, seconds(60)))
      << mb->Stats().replies_dropped;

  // The flooders stay alive and unread. Every confirmation arrives.
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt.socket_path, {}).MoveTo(&cs).ok());
  int confirmed = 0;
  for (int i = 0; i < kConfirmed; ++i) {
    uint64_t seq = 0;
    Status s = cs->SendConfirmed("admitted-" + std::to_string(i), seconds(20)).MoveTo(&seq);
    if (!s.ok()) {
      ADD_FAILURE() << "confirmation " << i << " did not arrive: " << s.ToString();
      break;
    }
    EXPECT_EQ(seq, flood_total + static_cast<uint64_t>(i) + 1);
    ++confirmed;
  }
  EXPECT_EQ(confirmed, kConfirmed);
  // Pipelined too: a window of answers in flight at once.
  std::vector<Confirmation> got;
  for (int i = 0; i < kConfirmed; ++i) ASSERT_TRUE(cs->SendAsync("async-" + std::to_string(i)).ok());
  ASSERT_TRUE(cs->Flush(&got).ok());
  ASSERT_EQ(got.size(), static_cast<size_t>(kConfirmed));
  for (const Confirmation& c : got) EXPECT_TRUE(c.status.ok()) << c.status.ToString();
  EXPECT_EQ(cs->dropped_answers(), 0u);

  // Closing gives up on what is still parked: dropped and counted too. Then
  // every answer a flooder earned was either delivered to it or counted.
  ASSERT_TRUE(mb->Close().ok());
  const auto ran_s = std::chrono::duration_cast<seconds>(std::chrono::steady_clock::now() - started).count();
  uint64_t delivered = 0;
  for (size_t i = 0; i < flooders.size(); ++i) {
    uint64_t notices = 0;
    const uint64_t n = CountAnswers(flooders[i], &notices);
    if (kinds[i] == Kind::kNoChannel) {
      EXPECT_EQ(n, 0u) << "a channel address without a channel got answers";
      EXPECT_LE(notices, static_cast<uint64_t>(ran_s) + 1) << "more than one no-channel notice a second";
    } else {
      EXPECT_EQ(notices, 0u) << "flooder " << i << " got a no-channel notice";
    }
    EXPECT_LT(n, static_cast<uint64_t>(kFlood)) << "flooder " << i << " was sent every answer";
    delivered += n;
  }
  const MailboxStats st = mb->Stats();
  EXPECT_EQ(st.confirmations, delivered + 2 * static_cast<uint64_t>(kConfirmed));
  EXPECT_EQ(st.replies_dropped, flood_total - delivered);
  for (Flooder& f : flooders) {
    ::close(f.sock);
    ::close(f.answers);
  }
}

}  // namespace
}  // namespace mq
