// torture_helper: the child processes of the kill torture
// (tests/torture_kill_test.cc, docs/reliability.md).
//
//   torture_helper actor SOCKET QUEUE auto|ack DELIVERED COMPACT_MIN_BYTES COMPACT_RATIO
//       Runs a mailbox with sync=always and automatic compaction at the given
//       thresholds, and receives every message oldest first, forever. Each
//       delivery is appended to DELIVERED as "SEQ PAYLOAD\n" with one write()
//       on an O_APPEND descriptor (auto: after Receive consumed it; ack: after
//       Take, before Ack). It first appends "#start PID\n". A SIGKILL can stop
//       a write() to a regular file part way (between two pages), so the last
//       record of a killed process may lack its end; the next process's
//       "#start" then follows it directly. torture_delivered.h tells such a
//       cut record from a corrupt one.
//   torture_helper sender SOCKET K OUT
//       Sends payload(K, 0), payload(K, 1), ... pipelined with a
//       mq::ConfirmedSender as fast as the mailbox confirms them, until
//       SIGTERM; then waits for the answers in flight and writes OUT:
//         a N        payloads 0..N-1 were handed to SendAsync
//         f I        payload I was not sent (SendAsync failed)
//         c I SEQ    payload I was confirmed as stored with sequence number SEQ
//         u I        payload I was sent but not confirmed (the mailbox died or timed out)
//
// Payloads are "s<K>-<I>-<body>" with a body of 8 to 135 letters computed
// from K and I, so a reader can tell a corrupt payload from a real one.
//
// Exit: 0 done, 2 usage, 3 an error (printed on stderr).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mq/mailbox.h"
#include "mq/sender.h"
#include "torture_payload.h"

namespace {

int Fail(const std::string& what, const mq::Status& s) {
  std::fprintf(stderr, "torture_helper: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 3;
}

int Actor(const std::string& socket, const std::string& queue, bool ack, const std::string& delivered,
          uint64_t compact_min, double compact_ratio) {
  const int out = ::open(delivered.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (out < 0) return Fail("opening " + delivered, mq::Status::FromErrno("open"));
  auto write_line = [&](const std::string& line) {
    return ::write(out, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  };
  mq::MailboxOptions o;
  o.socket_path = socket;
  o.queue_path = queue;
  o.store.sync = mq::SyncPolicy::kAlways;
  o.store.auto_compact = true;
  o.store.compact_min_bytes = compact_min;
  o.store.compact_ratio = compact_ratio;
  std::unique_ptr<mq::Mailbox> mb;
  mq::Status s = mq::Mailbox::Open(o).MoveTo(&mb);
  if (!s.ok()) return Fail("opening the mailbox", s);
  if (!write_line("#start " + std::to_string(::getpid()) + "\n"))
    return Fail("writing to " + delivered, mq::Status::FromErrno("write"));
  while (true) {
    mq::Message m;
    s = ack ? mb->Take(mq::Pattern::Any(), mq::Mailbox::kForever, &m)
            : mb->Receive(mq::Pattern::Any(), mq::Mailbox::kForever, &m);
    if (!s.ok()) return Fail(ack ? "Take" : "Receive", s);
    if (!write_line(std::to_string(m.seq) + " " + m.payload + "\n"))
      return Fail("writing to " + delivered, mq::Status::FromErrno("write"));
    if (ack && !(s = mb->Ack(m.seq)).ok()) return Fail("Ack", s);
  }
}

std::atomic<bool> g_stop{false};
void OnTerm(int) { g_stop = true; }

int Sender(const std::string& socket, int k, const std::string& out_path) {
  struct sigaction sa{};
  sa.sa_handler = OnTerm;
  ::sigaction(SIGTERM, &sa, nullptr);  // no SA_RESTART: a blocked poll returns at once

  mq::ConfirmedSenderOptions o;
  o.window = 16;
  o.reply_timeout = std::chrono::seconds(5);
  o.connect_retry = std::chrono::seconds(20);  // while the mailbox restarts
  std::unique_ptr<mq::ConfirmedSender> cs;
  mq::Status s = mq::ConfirmedSender::Open(socket, o).MoveTo(&cs);
  if (!s.ok()) return Fail("ConfirmedSender::Open", s);

  std::string log;
  std::vector<uint64_t> index_of_ticket;
  std::vector<mq::Confirmation> got;
  auto settle = [&] {
    for (const mq::Confirmation& c : got) {
      const uint64_t i = index_of_ticket.at(c.ticket);
      log += c.status.ok() ? "c " + std::to_string(i) + " " + std::to_string(c.seq) + "\n"
                           : "u " + std::to_string(i) + "\n";
    }
    got.clear();
  };
  uint64_t i = 0;
  for (; !g_stop.load(); ++i) {
    uint64_t ticket = 0;
    s = cs->SendAsync(mq::torture::Payload(k, i)).MoveTo(&ticket);
    if (s.ok()) {
      if (index_of_ticket.size() != ticket) return Fail("ticket order", mq::Status::InvalidArgument("gap"));
      index_of_ticket.push_back(i);
    } else {
      log += "f " + std::to_string(i) + "\n";
    }
    if (cs->in_flight() > 0) (void)cs->Collect(std::chrono::milliseconds(0), &got);
    settle();
  }
  s = cs->Flush(&got);
  if (!s.ok()) return Fail("Flush", s);
  settle();
  log = "a " + std::to_string(i) + "\n" + log;
  FILE* f = std::fopen(out_path.c_str(), "w");
  if (f == nullptr || std::fwrite(log.data(), 1, log.size(), f) != log.size() || std::fclose(f) != 0)
    return Fail("writing " + out_path, mq::Status::FromErrno("fwrite"));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 7 && a[0] == "actor")
    return Actor(a[1], a[2], a[3] == "ack", a[4], std::strtoull(a[5].c_str(), nullptr, 10),
                 std::strtod(a[6].c_str(), nullptr));
  if (a.size() == 4 && a[0] == "sender") return Sender(a[1], std::atoi(a[2].c_str()), a[3]);
  std::fprintf(stderr,
               "usage: torture_helper actor SOCKET QUEUE auto|ack DELIVERED COMPACT_MIN_BYTES COMPACT_RATIO\n"
               "       torture_helper sender SOCKET K OUT\n");
  return 2;
}
