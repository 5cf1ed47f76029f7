// mqtool send --confirm when not every message is confirmed: stderr names
// three groups (confirmed; sent, fate unknown; not sent) that between them
// hold every message exactly once, each refused message is named, and the
// seqs of messages stored after a refused one are still printed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "mailbox_testing.h"
#include "reply_format.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The message numbers of "message 1-4, 6, 9-12" (or "none").
std::vector<uint64_t> ParseRanges(const std::string& text) {
  std::vector<uint64_t> out;
  std::regex range(R"((\d+)(?:-(\d+))?)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), range); it != std::sregex_iterator(); ++it) {
    const uint64_t a = std::stoull((*it)[1]);
    const uint64_t b = (*it)[2].matched ? std::stoull((*it)[2]) : a;
    for (uint64_t n = a; n <= b; ++n) out.push_back(n);
  }
  return out;
}

// The text after "<socket>: <group>: " on stderr, up to "(" or ":" that
// starts the explanation.
std::string Group(const std::string& err, const std::string& socket, const std::string& group) {
  const std::string key = socket + ": " + group + ": ";
  size_t at = err.find(key);
  if (at == std::string::npos) return "<missing>";
  std::string rest = err.substr(at + key.size());
  rest = rest.substr(0, rest.find('\n'));
  return rest.substr(0, std::min(rest.find(" ("), rest.find(": ")));
}

struct Groups {
  std::vector<uint64_t> confirmed, refused, unknown, unsent;
};

Groups ParseGroups(const std::string& err, const std::string& socket) {
  Groups g;
  g.confirmed = ParseRanges(Group(err, socket, "confirmed"));
  std::string refused = Group(err, socket, "refused, not stored");
  if (refused != "<missing>") g.refused = ParseRanges(refused);
  g.unknown = ParseRanges(Group(err, socket, "sent, fate unknown"));
  g.unsent = ParseRanges(Group(err, socket, "not sent"));
  return g;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A mailbox stand-in bound at `path`: reads `read` messages, answers the
// first ones as `answers` says (one batched datagram), reads on until it has
// `read_total` messages, then closes and unlinks its socket, as a mailbox
// killed mid-stream.
void FakeMailbox(int fd, const std::string& path, size_t read, const std::vector<reply::Answer>& answers,
                 size_t read_total) {
  sockaddr_un from{};
  socklen_t len = 0;
  char buf[256];
  for (size_t i = 0; i < read; ++i) {
    len = sizeof(from);
    if (::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len) < 0) break;
  }
  std::string batch;
  for (const reply::Answer& a : answers) {
    char one[reply::kSize];
    reply::Encode(a.code, a.seq, one);
    batch.append(one, reply::kSize);
  }
  (void)::sendto(fd, batch.data(), batch.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  for (size_t i = read; i < read_total; ++i)
    if (::recv(fd, buf, sizeof(buf), 0) < 0) break;
  ::unlink(path.c_str());
  ::close(fd);
}

class SendReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mqtool_ = test::MqtoolPath();
    if (mqtool_.empty()) GTEST_SKIP() << "mqtool is not built";
    path_ = dir_.File("sock");
  }
  int Bind() {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }
  test::TempDir dir_;
  std::string mqtool_, path_;
};

// Checks that the groups hold 1..total exactly once, in this order: the
// confirmed and refused ones first, then the unknown ones, then the unsent.
void ExpectPartition(const Groups& g, uint64_t total) {
  std::set<uint64_t> all;
  size_t count = 0;
  for (const auto* v : {&g.confirmed, &g.refused, &g.unknown, &g.unsent})
    for (uint64_t n : *v) {
      all.insert(n);
      ++count;
    }
  EXPECT_EQ(count, total) << "a message is in two groups or in none";
  EXPECT_EQ(all.size(), total);
  if (!all.empty()) {
    EXPECT_EQ(*all.begin(), 1u);
    EXPECT_EQ(*all.rbegin(), total);
  }
  if (!g.unknown.empty() && !g.unsent.empty()) {
    EXPECT_EQ(g.unknown.back() + 1, g.unsent.front());
  }
}

TEST_F(SendReportTest, MailboxThatStopsMidStreamGivesConfirmedUnknownAndUnsentRanges) {
  const int fd = Bind();
  std::vector<reply::Answer> answers;
  for (uint64_t i = 0; i < 10; ++i) answers.push_back({reply::Code::kOk, 101 + i});
  // mqtool keeps at most 64 messages in flight, so it can send message 74
  // only after it has read the 10 answers: a send to a mailbox that is gone
  // makes the kernel drop the answers still queued for the sender.
  std::thread mailbox([&] { FakeMailbox(fd, path_, 15, answers, 74); });
  std::vector<std::string> argv = {mqtool_, "send", path_, "--confirm", "--timeout", "2"};
  constexpr uint64_t kTotal = 200;
  for (uint64_t i = 1; i <= kTotal; ++i) argv.push_back("m" + std::to_string(i));
  test::ProcResult r = test::RunProcess(argv);
  mailbox.join();
  EXPECT_EQ(r.exit_code, 3) << r.err;
  std::vector<std::string> want;
  for (uint64_t s = 101; s <= 110; ++s) want.push_back(std::to_string(s));
  EXPECT_EQ(Lines(r.out), want);
  const Groups g = ParseGroups(r.err, path_);
  EXPECT_EQ(Group(r.err, path_, "confirmed"), "message 1-10") << r.err;
  ASSERT_FALSE(g.unknown.empty()) << r.err;
  EXPECT_EQ(g.unknown.front(), 11u) << r.err;
  EXPECT_GE(g.unknown.back(), 74u) << "the mailbox read 74 messages: " << r.err;
  ASSERT_FALSE(g.unsent.empty()) << r.err;
  EXPECT_EQ(g.unsent.back(), kTotal) << r.err;
  ExpectPartition(g, kTotal);
  EXPECT_NE(r.err.find("mqtool dump QUEUE --all --from 111 (the last confirmed seq is 110)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("and later ones were not sent"), std::string::npos) << r.err;
}

TEST_F(SendReportTest, SeqsOfMessagesStoredAfterARefusedOneArePrintedAndTheRefusalIsNamed) {
  const int fd = Bind();
  std::vector<reply::Answer> answers;
  for (uint64_t i = 0; i < 10; ++i)
    answers.push_back(i == 4 ? reply::Answer{reply::Code::kTooLarge, 0} : reply::Answer{reply::Code::kOk, 101 + i});
  std::thread mailbox([&] { FakeMailbox(fd, path_, 12, answers, 12); });
  std::vector<std::string> argv = {mqtool_, "send", path_, "--confirm", "--timeout", "1"};
  constexpr uint64_t kTotal = 12;
  for (uint64_t i = 1; i <= kTotal; ++i) argv.push_back("m" + std::to_string(i));
  test::ProcResult r = test::RunProcess(argv);
  mailbox.join();
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Lines(r.out), (std::vector<std::string>{"101", "102", "103", "104", "106", "107", "108", "109", "110"}));
  EXPECT_NE(r.err.find("message 5 was not stored: the mailbox refused the message: larger than"), std::string::npos)
      << r.err;
  EXPECT_EQ(Group(r.err, path_, "confirmed"), "message 1-4, 6-10") << r.err;
  EXPECT_EQ(Group(r.err, path_, "refused, not stored"), "message 5") << r.err;
  EXPECT_EQ(Group(r.err, path_, "sent, fate unknown"), "message 11-12") << r.err;
  EXPECT_EQ(Group(r.err, path_, "not sent"), "none") << r.err;
}

TEST_F(SendReportTest, MailboxProcessKilledMidStreamGivesGroupsThatHoldEveryMessageOnce) {
  test::TempDir q;
  const std::string delivered = q.File("delivered");
  const pid_t mailbox =
      test::SpawnProcess({test::HelperPath(), "actor", path_, q.File("queue"), "auto"}, delivered);
  ASSERT_TRUE(test::WaitUntil([&] { return test::FileExists(path_); }));
  constexpr uint64_t kTotal = 20000;
  std::vector<std::string> argv = {mqtool_, "send", path_, "--confirm", "--timeout", "2"};
  for (uint64_t i = 1; i <= kTotal; ++i) argv.push_back("m" + std::to_string(i));
  test::ProcResult r;
  std::thread sender([&] { r = test::RunProcess(argv); });
  // Kill the mailbox once it has delivered 200 messages.
  EXPECT_TRUE(test::WaitUntil([&] { return Lines(test::ReadFileOrDie(delivered)).size() > 200; }));
  ::kill(mailbox, SIGKILL);
  test::WaitProcess(mailbox);
  sender.join();
  const std::vector<std::string> out = Lines(r.out);
  if (r.exit_code == 0 && out.size() == kTotal) GTEST_SKIP() << "every message was confirmed before the kill";
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const Groups g = ParseGroups(r.err, path_);
  EXPECT_TRUE(g.refused.empty()) << r.err;
  EXPECT_EQ(out.size(), g.confirmed.size()) << r.err;
  ASSERT_FALSE(g.confirmed.empty()) << r.err;
  EXPECT_EQ(g.confirmed.front(), 1u) << r.err;
  EXPECT_GE(g.confirmed.size(), 200u) << r.err;
  ExpectPartition(g, kTotal);
  // Every confirmed message reached the mailbox (it delivered what it stored
  // before the kill, or kept it in the queue).
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], std::to_string(i + 1)) << "seqs of a fresh queue";
  EXPECT_NE(r.err.find("mqtool dump QUEUE --all --from " + std::to_string(out.size() + 1)), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mq
