// The control protocol: requests by confirmed send to the control mailbox,
// answers by datagram to the client's abstract socket, accepted only with
// the credentials of root or the client's own uid (control.h, mq/run.h).
#include "control.h"

#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "mq/run.h"
#include "mq/sender.h"

namespace mq::supervisor {
namespace {

socklen_t AbstractAddress(const std::string& name, sockaddr_un* a) {
  *a = sockaddr_un{};
  a->sun_family = AF_UNIX;
  const size_t n = std::min(name.size(), sizeof(a->sun_path) - 1);
  std::memcpy(a->sun_path + 1, name.data(), n);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

std::string Hex16() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) r = static_cast<uint64_t>(::getpid()) << 32;
  static const char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, r >>= 4) s[static_cast<size_t>(i)] = kDigits[r & 15];
  return s;
}

}  // namespace

Result<std::unique_ptr<AnswerSocket>> AnswerSocket::Open() {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("mqsup: answer socket");
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
    Status s = Status::FromErrno("mqsup: SO_PASSCRED on the answer socket");
    ::close(fd);
    return s;
  }
  const std::string name = std::string(kAnswerPrefix) + std::to_string(::getpid()) + "/" + Hex16();
  sockaddr_un a;
  const socklen_t len = AbstractAddress(name, &a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    Status s = Status::FromErrno("mqsup: binding the answer socket");
    ::close(fd);
    return s;
  }
  return std::unique_ptr<AnswerSocket>(new AnswerSocket(fd, name));
}

AnswerSocket::~AnswerSocket() { ::close(fd_); }

Result<std::string> AnswerSocket::Read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string buf(1 << 20, '\0');
  const std::string head = "MQSUP " + name_ + "\n";
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::TimedOut("mqsup: no answer from the supervisor in time");
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    iovec iov{buf.data(), buf.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::FromErrno("mqsup: reading the answer");
    }
    const ucred* cred = nullptr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) cred = reinterpret_cast<const ucred*>(CMSG_DATA(c));
    const bool trusted = cred != nullptr && (cred->uid == 0 || cred->uid == ::geteuid());
    const std::string_view got(buf.data(), static_cast<size_t>(n));
    if (!trusted || (msg.msg_flags & MSG_TRUNC) != 0 || got.substr(0, head.size()) != head) {
      ++dropped_;
      continue;
    }
    return std::string(got.substr(head.size()));
  }
}

bool ParseControlRequest(std::string_view p, ControlRequest* out) {
  if (p.substr(0, 4) != "CTL ") return false;
  p.remove_prefix(4);
  const size_t sp = p.find(' ');
  if (sp == std::string_view::npos) return false;
  out->answer_to = std::string(p.substr(0, sp));
  if (out->answer_to.substr(0, kAnswerPrefix.size()) != kAnswerPrefix || out->answer_to.size() > 100) return false;
  p.remove_prefix(sp + 1);
  const size_t sp2 = p.find(' ');
  out->verb = std::string(p.substr(0, sp2));
  out->arg = sp2 == std::string_view::npos ? "" : std::string(p.substr(sp2 + 1));
  return !out->verb.empty();
}

Status SendAnswer(const std::string& to, const std::string& body) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("mqsup: socket for an answer");
  sockaddr_un a;
  const socklen_t len = AbstractAddress(to, &a);
  const std::string d = "MQSUP " + to + "\n" + body;
  const ssize_t n = ::sendto(fd, d.data(), d.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&a), len);
  const int err = errno;
  ::close(fd);
  if (n < 0) return Status::IOError("mqsup: answering " + to, err);
  return Status::OK();
}

Result<std::string> AskSupervisor(const std::string& control, const std::string& request,
                                  std::chrono::milliseconds timeout) {
  auto answer = AnswerSocket::Open();
  if (!answer.ok()) return answer.status();
  std::unique_ptr<ConfirmedSender> sender;
  ConfirmedSenderOptions o;
  o.reply_timeout = timeout;
  if (Status s = ConfirmedSender::Open(control, o).MoveTo(&sender); !s.ok()) return s;
  uint64_t seq = 0;
  if (Status s = sender->SendConfirmed("CTL " + (*answer)->name() + " " + request, timeout).MoveTo(&seq); !s.ok()) return s;
  auto body = (*answer)->Read(timeout);
  if (!body.ok()) return body.status();
  if (body->substr(0, 3) == "ok\n") return body->substr(3);
  if (*body == "ok") return std::string();
  std::string why = body->substr(0, body->find('\n'));
  if (why.substr(0, 6) == "error ") why = why.substr(6);
  return Status::Denied(why);
}

}  // namespace mq::supervisor
