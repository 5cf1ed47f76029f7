// Packed sends (issue 21; docs/mailbox.md, "Packed sends"): a confirming
// sender puts the messages it sends together into one datagram, but only
// once its mailbox's answers offered packs, and only from an address under
// the pack prefix; the mailbox stores each message of a pack as its own,
// answers each in order, refuses a too-large one alone and a malformed pack
// whole.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/sender.h"
#include "pack_format.h"
#include "reply_format.h"
#include "unix_socket.h"

namespace mq {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::OpenMailboxOrDie;

sockaddr_un Abstract(const std::string& name, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, name.data(), name.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  return a;
}

sockaddr_un PathAddr(const std::string& path, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  *len = static_cast<socklen_t>(sizeof(a));
  return a;
}

// Answers read from fd until `n` have come or 10 s passed.
std::vector<reply::Answer> ReadAnswers(int fd, size_t n) {
  std::vector<reply::Answer> got;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char b[reply::kSize * reply::kMaxBatch];
    const ssize_t k = ::recv(fd, b, sizeof(b), MSG_DONTWAIT);
    if (k <= 0) continue;
    EXPECT_TRUE(reply::DecodeBatch(std::string_view(b, static_cast<size_t>(k)), &got)) << "an undecodable answer";
  }
  return got;
}

std::string Packed(const std::vector<std::string>& msgs) {
  const std::vector<std::string_view> views(msgs.begin(), msgs.end());
  std::string out;
  pack::Pack(views, &out);
  return out;
}

using PackedSendTest = test::MailboxTest;

TEST_F(PackedSendTest, SendAsyncBatchPacksOnceOfferedAndEveryMessageIsStoredOnceInOrder) {
  auto mb = OpenMailboxOrDie(opt_);
  ConfirmedSenderOptions co;
  co.window = 64;
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
  std::vector<std::string> want = {test::VariedPayload(0)};
  std::vector<Confirmation> confs;
  ASSERT_TRUE(cs->SendAsync(want[0]).ok());
  ASSERT_TRUE(cs->Flush(&confs).ok());
  EXPECT_FALSE(cs->packing()) << "packed before any answer offered it";
  for (size_t i = 1; i <= 300; ++i) want.push_back(test::VariedPayload(i));
  const std::vector<std::string_view> views(want.begin() + 1, want.end());
  size_t sent = 0;
  uint64_t first = 0;
  Status st = cs->SendAsyncBatch(views, &sent).MoveTo(&first);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(sent, views.size());
  EXPECT_EQ(first, 1u);
  ASSERT_TRUE(cs->Flush(&confs).ok());
  EXPECT_TRUE(cs->packing()) << "the mailbox's answers offered packs, but the sender never packed";
  ASSERT_EQ(confs.size(), want.size());
  for (size_t i = 0; i < confs.size(); ++i) {
    ASSERT_TRUE(confs[i].status.ok()) << i << ": " << confs[i].status.ToString();
    EXPECT_EQ(confs[i].ticket, i);
    EXPECT_EQ(confs[i].seq, i + 1) << "answers out of message order";
  }
  const MailboxStats s = mb->Stats();
  EXPECT_EQ(s.stored, want.size());
  // 300 messages after the switch: at most 64 a pack, and the window of 64
  // cuts a call short at most once per answer read.
  EXPECT_LE(s.datagrams, want.size() / 4) << s.datagrams << " datagrams for " << want.size() << " messages";
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), want.size()), want);
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut()) << "a message stored twice";
}

TEST_F(PackedSendTest, SenderWithPackOffSendsOneDatagramAMessage) {
  auto mb = OpenMailboxOrDie(opt_);
  ConfirmedSenderOptions co;
  co.pack = false;
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
  std::vector<Confirmation> confs;
  ASSERT_TRUE(cs->SendAsync("first").ok());
  ASSERT_TRUE(cs->Flush(&confs).ok());
  const std::vector<std::string_view> views(100, std::string_view("same"));
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  ASSERT_TRUE(cs->Flush(&confs).ok());
  EXPECT_FALSE(cs->packing());
  EXPECT_EQ(mb->Stats().datagrams, 101u);
  EXPECT_EQ(mb->Stats().stored, 101u);
}

// A mailbox stand-in: what the sender sends, and from where, as it was sent.
struct Received {
  std::string data;
  std::string from;  // sun_path bytes
  int channel = -1;
};

class FakeMailbox {
 public:
  explicit FakeMailbox(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len;
    sockaddr_un a = PathAddr(path, &len);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~FakeMailbox() {
    if (fd_ >= 0) ::close(fd_);
    if (channel_ >= 0) ::close(channel_);
  }
  bool ok() const { return ok_; }
  // Every datagram queued now.
  std::vector<Received> Take() {
    std::vector<Received> out;
    while (true) {
      char buf[70000];
      sockaddr_un from{};
      iovec iov{buf, sizeof(buf)};
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof(from);
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
      m.msg_control = control;
      m.msg_controllen = sizeof(control);
      const ssize_t n = ::recvmsg(fd_, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) break;
      Received r;
      r.data.assign(buf, static_cast<size_t>(n));
      r.from.assign(from.sun_path, m.msg_namelen - offsetof(sockaddr_un, sun_path));
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&r.channel, CMSG_DATA(c), sizeof(int));
      if (r.channel >= 0) {
        if (channel_ >= 0) ::close(channel_);
        channel_ = r.channel;
      }
      out.push_back(r);
    }
    return out;
  }
  // Answers seqs first.. (count of them) through the last channel passed.
  bool Answer(uint64_t first, size_t count, uint8_t pack_log2) {
    std::string d(count * reply::kSize, '\0');
    for (size_t i = 0; i < count; ++i) reply::Encode(reply::Code::kOk, first + i, d.data() + i * reply::kSize, pack_log2);
    return channel_ >= 0 && ::send(channel_, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size());
  }

 private:
  std::string path_;
  int fd_ = -1;
  int channel_ = -1;
  bool ok_ = false;
};

TEST_F(PackedSendTest, SenderPacksOnlyAfterAnAnswerOffersPacksAndOnlyFromThePackPrefix) {
  FakeMailbox fake(opt_.socket_path);
  ASSERT_TRUE(fake.ok());
  ConfirmedSenderOptions co;
  co.window = 64;
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
  std::vector<Confirmation> confs;
  const std::vector<std::string> five = {"m0", "m1", "m2", "m3", "m4"};
  const std::vector<std::string_view> views(five.begin(), five.end());

  // A mailbox that offers nothing (an older one) gets plain datagrams only.
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  std::vector<Received> got = fake.Take();
  ASSERT_EQ(got.size(), five.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, five[i]) << "datagram " << i << " is not the message as sent";
    EXPECT_FALSE(pack::IsPackAddress(got[i].from));
  }
  ASSERT_TRUE(fake.Answer(1, 5, 0));
  ASSERT_TRUE(cs->Flush(&confs).ok());
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  got = fake.Take();
  ASSERT_EQ(got.size(), five.size()) << "packed, though no answer offered packs";
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].data, five[i]);

  // These answers offer packs of up to 4 KiB: the next batch is packed.
  ASSERT_TRUE(fake.Answer(6, 5, 12));
  ASSERT_TRUE(cs->Flush(&confs).ok());
  ASSERT_EQ(confs.size(), 10u);
  for (const Confirmation& c : confs) EXPECT_TRUE(c.status.ok()) << c.status.ToString();
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  EXPECT_TRUE(cs->packing());
  got = fake.Take();
  // The first message after the reconnect carries the new channel, alone;
  // the other four share one datagram.
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(pack::IsPackAddress(got[0].from) && pack::IsPackAddress(got[1].from));
  EXPECT_GE(got[0].channel, 0) << "the first datagram after the reconnect passed no channel";
  EXPECT_EQ(got[0].data, Packed({"m0"}));
  EXPECT_EQ(got[1].data, Packed({"m1", "m2", "m3", "m4"}));
  ASSERT_TRUE(fake.Answer(11, 5, 12));
  ASSERT_TRUE(cs->Flush(&confs).ok());
  ASSERT_EQ(confs.size(), 15u);
  EXPECT_EQ(confs.back().seq, 15u);
}

TEST_F(PackedSendTest, SenderForgetsTheOfferWhenItReconnectsToAnotherMailbox) {
  auto fake = std::make_unique<FakeMailbox>(opt_.socket_path);
  ASSERT_TRUE(fake->ok());
  ConfirmedSenderOptions co;
  co.window = 64;
  std::unique_ptr<ConfirmedSender> cs;
  ASSERT_TRUE(ConfirmedSender::Open(opt_.socket_path, co).MoveTo(&cs).ok());
  std::vector<Confirmation> confs;
  const std::vector<std::string> five = {"m0", "m1", "m2", "m3", "m4"};
  const std::vector<std::string_view> views(five.begin(), five.end());
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  (void)fake->Take();
  ASSERT_TRUE(fake->Answer(1, 5, 12));
  ASSERT_TRUE(cs->Flush(&confs).ok());
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  ASSERT_TRUE(cs->packing());
  (void)fake->Take();
  ASSERT_TRUE(fake->Answer(6, 5, 12));
  ASSERT_TRUE(cs->Flush(&confs).ok());

  // Replaced by a mailbox that offers nothing (an older version): the
  // sender's next send finds its peer gone, reconnects, and sends plain.
  fake.reset();
  ASSERT_EQ(::unlink(opt_.socket_path.c_str()), 0);
  fake = std::make_unique<FakeMailbox>(opt_.socket_path);
  ASSERT_TRUE(fake->ok());
  ASSERT_TRUE(cs->SendAsyncBatch(views).ok());
  EXPECT_FALSE(cs->packing()) << "kept the old mailbox's offer for a new one";
  const std::vector<Received> got = fake->Take();
  ASSERT_EQ(got.size(), five.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data, five[i]) << "datagram " << i << " is not the message as sent";
    EXPECT_FALSE(pack::IsPackAddress(got[i].from));
  }
}

// A hand-made packing sender: a socket connected to the mailbox, bound under
// the pack prefix, its answer channel passed with the first datagram.
class RawPacker {
 public:
  explicit RawPacker(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len;
    sockaddr_un to = PathAddr(path, &len);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&to), len) != 0) return;
    static std::atomic<int> n{0};
    const std::string name = std::string(pack::kPrefix) + "test/" + std::to_string(::getpid()) + "/" + std::to_string(n++);
    sockaddr_un me = Abstract(name, &len);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&me), len) != 0) return;
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) != 0) return;
    answers_ = pair[0];
    give_ = pair[1];
    ok_ = true;
  }
  ~RawPacker() {
    for (int f : {fd_, answers_, give_})
      if (f >= 0) ::close(f);
  }
  bool ok() const { return ok_; }
  bool Send(const std::string& d) {
    const bool sent = unix_socket::SendWithFd(fd_, d, give_) == static_cast<ssize_t>(d.size());
    if (sent && give_ >= 0) {
      ::close(give_);
      give_ = -1;
    }
    return sent;
  }
  int answers() const { return answers_; }

 private:
  int fd_ = -1, answers_ = -1, give_ = -1;
  bool ok_ = false;
};

TEST_F(PackedSendTest, TooLargePacksAreAnsweredTooLargeInOrderAndAMalformedOneIsRefusedWholeWithoutAnAnswer) {
  opt_.max_message_size = 100;
  std::mutex mu;
  std::vector<Rejection> rejections;
  opt_.on_reject = [&](const Rejection& r) {
    std::lock_guard<std::mutex> g(mu);
    rejections.push_back(r);
  };
  auto mb = OpenMailboxOrDie(opt_);
  RawPacker p(opt_.socket_path);
  ASSERT_TRUE(p.ok());
  // A receive buffer holds max_message_size + pack::kOverhead bytes, so a
  // message too large always arrives cut short, in a pack of its own.
  const std::string big(101, 'B'), huge(300, 'H'), most(100, 'M');
  ASSERT_TRUE(p.Send(Packed({"x1", "x2"})));
  ASSERT_TRUE(p.Send(Packed({huge})));
  std::string bad = Packed({"y1", "y2"});
  bad[4] = 9;  // the first entry's length runs past the datagram
  ASSERT_TRUE(p.Send(bad));
  ASSERT_TRUE(p.Send(Packed({big})));  // one byte over the maximum
  ASSERT_TRUE(p.Send(Packed({"x3"})));
  ASSERT_TRUE(p.Send(Packed({most})));  // the maximum itself is taken
  const std::vector<reply::Answer> a = ReadAnswers(p.answers(), 6);
  ASSERT_EQ(a.size(), 6u) << "answers: one per message of each valid pack, none for the malformed one";
  const reply::Code ok = reply::Code::kOk, tl = reply::Code::kTooLarge;
  const std::vector<reply::Code> want_codes = {ok, ok, tl, tl, ok, ok};
  const std::vector<uint64_t> want_seqs = {1, 2, 0, 0, 3, 4};
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].code, want_codes[i]) << "answer " << i;
    EXPECT_EQ(a[i].seq, want_seqs[i]) << "answer " << i;
    EXPECT_GT(a[i].pack_offer, 0u) << "answer " << i << " offers no packs";
  }
  EXPECT_EQ(test::ReceivePayloads(mb.get(), Pattern::Any(), 4), (std::vector<std::string>{"x1", "x2", "x3", most}));
  Message m;
  EXPECT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).IsTimedOut());
  const MailboxStats s = mb->Stats();
  EXPECT_EQ(s.stored, 4u);
  EXPECT_EQ(s.rejected_too_large, 2u);
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(rejections.size(), 3u);
  EXPECT_EQ(rejections[0].reason, Rejection::Reason::kTooLarge);
  EXPECT_EQ(rejections[0].size, 300u);
  EXPECT_EQ(rejections[1].reason, Rejection::Reason::kMalformedPack);
  EXPECT_EQ(rejections[2].reason, Rejection::Reason::kTooLarge);
  EXPECT_EQ(rejections[2].size, 101u);
  EXPECT_NE(rejections[1].describe.find("not a packed datagram"), std::string::npos) << rejections[1].describe;
}

TEST(PackFormatTest, UnpackTakesExactlyWhatPackWrote) {
  const std::vector<std::string> msgs = {"", "a", std::string(1000, 'z'), "last"};
  const std::string d = Packed(msgs);
  std::vector<std::string_view> out;
  ASSERT_EQ(pack::Unpack(d, d.size(), &out), pack::Unpacked::kOk);
  EXPECT_EQ(std::vector<std::string>(out.begin(), out.end()), msgs);
  const std::vector<std::string> max(pack::kMaxMessages, "m");
  out.clear();
  EXPECT_EQ(pack::Unpack(Packed(max), Packed(max).size(), &out), pack::Unpacked::kOk);
  EXPECT_EQ(out.size(), pack::kMaxMessages);
}

TEST(PackFormatTest, UnpackRefusesAnythingElseWholeAndAppendsNothing) {
  const std::string d = Packed({"ab", "cd"});
  std::vector<std::string> bad = {
      "",
      "mqPK",                                  // no entry
      "mqPX" + d.substr(4),                    // magic
      d + "x",                                 // a byte after the last entry
      d.substr(0, d.size() - 1),               // the last entry cut
      Packed(std::vector<std::string>(pack::kMaxMessages + 1, "m")),  // one entry too many
  };
  std::string longer = d;
  longer[4] = 3;  // the first entry's length runs into the next
  bad.push_back(longer);
  // A last entry header whose length runs past the end, the header ending
  // exactly at the datagram's end (the reply fuzz target found it taken as
  // a pack of the entries before it).
  bad.push_back(Packed({"ab"}) + std::string("\0\0\0i", 4));
  for (size_t i = 0; i < bad.size(); ++i) {
    std::vector<std::string_view> out = {"kept"};
    EXPECT_EQ(pack::Unpack(bad[i], bad[i].size(), &out), pack::Unpacked::kMalformed) << "case " << i;
    EXPECT_EQ(out.size(), 1u) << "case " << i;
  }
  // Cut short: one entry whose length is the datagram's real length minus
  // the framing is one message too large; anything else is malformed.
  const std::string one = Packed({std::string(50, 'x')});
  std::vector<std::string_view> out;
  EXPECT_EQ(pack::Unpack(std::string_view(one).substr(0, 20), one.size(), &out), pack::Unpacked::kOneTooLarge);
  EXPECT_EQ(pack::Unpack(std::string_view(d).substr(0, 9), d.size(), &out), pack::Unpacked::kMalformed);
  EXPECT_TRUE(out.empty());
}

TEST(ReplyOfferTest, AnAnswerCarriesThePackOfferAndOldReadersStillDecodeIt) {
  char b[reply::kSize];
  reply::Encode(reply::Code::kOk, 7, b, 16);
  reply::Code c;
  uint64_t seq = 0;
  ASSERT_TRUE(reply::Decode(std::string_view(b, reply::kSize), &c, &seq));
  EXPECT_EQ(seq, 7u);
  EXPECT_EQ(reply::PackOffer(std::string_view(b, reply::kSize)), size_t{1} << 16);
  reply::Encode(reply::Code::kOk, 7, b);
  EXPECT_EQ(reply::PackOffer(std::string_view(b, reply::kSize)), 0u);
  EXPECT_EQ(b[6], 0);
  EXPECT_EQ(b[7], 0);
  reply::Encode(reply::Code::kOk, 7, b, reply::kMaxPackLog2 + 1);  // out of range: no offer
  EXPECT_EQ(reply::PackOffer(std::string_view(b, reply::kSize)), 0u);
}

}  // namespace
}  // namespace mq
