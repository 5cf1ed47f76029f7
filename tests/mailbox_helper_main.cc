// mailbox_helper: the child processes of the mailbox tests.
//
//   mailbox_helper actor SOCKET QUEUE auto|ack
//       Runs a mailbox (sync=always) and receives every message, oldest
//       first, writing each payload and a newline to stdout with one write()
//       (auto: after Receive consumed it; ack: after Take, before Ack). It
//       writes "#start" first. The message STOP makes it receive what is
//       left and exit 0.
//   mailbox_helper send [--uid N] SOCKET PAYLOAD...
//       mq::Send of each payload (as uid N if given).
//   mailbox_helper send-confirmed [--uid N] SOCKET PAYLOAD
//       ConfirmedSender::SendConfirmed; prints "ok SEQ" or the error.
//
// Exit: 0 done, 2 usage, 3 an error (printed on stderr).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mq/mailbox.h"
#include "mq/sender.h"

namespace {

bool WriteAll(const std::string& s) {
  // One write per delivery, so a SIGKILL never leaves half a line.
  return ::write(1, s.data(), s.size()) == static_cast<ssize_t>(s.size());
}

int Fail(const mq::Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return 3;
}

int Actor(const std::string& socket, const std::string& queue, bool ack) {
  mq::MailboxOptions o;
  o.socket_path = socket;
  o.queue_path = queue;
  o.store.sync = mq::SyncPolicy::kAlways;
  std::unique_ptr<mq::Mailbox> mb;
  mq::Status s = mq::Mailbox::Open(o).MoveTo(&mb);
  if (!s.ok()) return Fail(s);
  // Marks where this run's deliveries begin (the crash test needs to know).
  if (!WriteAll("#start\n")) return Fail(mq::Status::FromErrno("writing to stdout"));
  bool stopping = false;
  while (true) {
    mq::Message m;
    auto timeout = stopping ? mq::Mailbox::kPoll : mq::Mailbox::kForever;
    s = ack ? mb->Take(mq::Pattern::Any(), timeout, &m) : mb->Receive(mq::Pattern::Any(), timeout, &m);
    if (s.IsTimedOut() && stopping) break;
    if (!s.ok()) return Fail(s);
    if (m.payload == "STOP") {
      stopping = true;
    } else if (!WriteAll(m.payload + "\n")) {
      return Fail(mq::Status::FromErrno("writing a delivery"));
    }
    if (ack && !(s = mb->Ack(m.seq)).ok()) return Fail(s);
  }
  s = mb->Close();
  return s.ok() ? 0 : Fail(s);
}

// Takes "--uid N" off the front of args and switches to that uid.
bool SwitchUser(std::vector<std::string>* args) {
  if (args->size() < 2 || (*args)[0] != "--uid") return true;
  uid_t uid = static_cast<uid_t>(std::strtoul((*args)[1].c_str(), nullptr, 10));
  args->erase(args->begin(), args->begin() + 2);
  if (::setgid(uid) != 0 || ::setuid(uid) != 0) {
    std::perror("setuid");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return 2;
  const std::string mode = args[0];
  args.erase(args.begin());
  if (mode == "actor" && args.size() == 3) return Actor(args[0], args[1], args[2] == "ack");
  if (mode == "send" || mode == "send-confirmed") {
    if (!SwitchUser(&args)) return 3;
    if (args.size() < 2) return 2;
    if (mode == "send") {
      for (size_t i = 1; i < args.size(); ++i) {
        mq::Status s = mq::Send(args[0], args[i]);
        if (!s.ok()) return Fail(s);
      }
      return 0;
    }
    std::unique_ptr<mq::ConfirmedSender> cs;
    mq::Status s = mq::ConfirmedSender::Open(args[0], {}).MoveTo(&cs);
    if (!s.ok()) return Fail(s);
    uint64_t seq = 0;
    s = cs->SendConfirmed(args[1], std::chrono::seconds(5)).MoveTo(&seq);
    if (!s.ok()) return Fail(s);
    std::printf("ok %llu\n", static_cast<unsigned long long>(seq));
    return 0;
  }
  std::fprintf(stderr, "usage: mailbox_helper actor|send|send-confirmed ...\n");
  return 2;
}
