// mqtool send: send messages to a mailbox's socket (docs/mailbox.md).
//
//   mqtool send SOCKET [MSG...] [--confirm] [--timeout SECONDS]
//                      [--retry SECONDS] [--expect-uid UID] [--escaped]
//
// Each MSG is one message; with no MSG, each line of standard input is one
// (without its newline).
//   --confirm          wait for the mailbox's answer to each message (it
//                      comes once the message is durable under the mailbox's
//                      sync policy) and print its sequence number, one per line
//   --timeout SECONDS  with --confirm: how long to wait for each answer (default 10)
//   --retry SECONDS    keep retrying this long while the mailbox's buffer is
//                      full or no mailbox is bound at SOCKET (default 0)
//   --expect-uid UID   with --confirm: the mailbox runs as UID (by default its
//                      socket file must be owned by root or by you, and so
//                      must the process that answers; else nothing is sent)
//   --escaped          MSG and lines use mqtool's escapes (\n \t \\ \xHH ...)
//
// Messages that are ready together go in one system call (Sender::SendBatch,
// ConfirmedSender::SendAsyncBatch: up to 64 datagrams a sendmmsg): all the
// MSG arguments, and the complete lines that one read of standard input
// brought. A line is never held back waiting for later ones.
//
// Message N is the N-th MSG, or line N of standard input. With --confirm,
// when not every message is confirmed, stderr says which were refused (with
// the reason; the seqs of later stored messages are still printed) and ends
// with three groups: confirmed; sent, fate unknown (stored or not: look in
// the queue with mqtool dump); not sent. Sending stops at the first message
// that is not confirmed.
//
// Exit: 0 every message sent (and confirmed), 1 an answer did not come in
// time (and nothing else went wrong), 2 usage error, 3 any other error (a
// message on stderr names which).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <thread>
#include <string>
#include <optional>
#include <vector>

#include "common.h"
#include "mq/sender.h"

namespace mqtool {
namespace {

using std::chrono::milliseconds;

// The lines of standard input, read with read(2) so that the lines already
// read are known: Next blocks only when no complete line is buffered, and
// Buffered says whether it would not block.
class StdinLines {
 public:
  // The next line, without its newline (a last line without one counts).
  // False at the end of input. Throws ToolError on a read error.
  bool Next(std::string* line) {
    for (;;) {
      const size_t nl = buf_.find('\n', at_);
      if (nl != std::string::npos) {
        line->assign(buf_, at_, nl - at_);
        at_ = nl + 1;
        return true;
      }
      if (eof_) {
        if (at_ >= buf_.size()) return false;
        line->assign(buf_, at_, std::string::npos);
        at_ = buf_.size();
        return true;
      }
      buf_.erase(0, at_);
      at_ = 0;
      char chunk[64 * 1024];
      const ssize_t n = ::read(0, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw ToolError(std::string("reading standard input: ") + std::strerror(errno));
      if (n == 0) eof_ = true;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  // A complete line (or the unterminated last one) is ready without a read.
  bool Buffered() const { return buf_.find('\n', at_) != std::string::npos || (eof_ && at_ < buf_.size()); }

 private:
  std::string buf_;
  size_t at_ = 0;
  bool eof_ = false;
};

class SendCommand final : public Command {
 public:
  SendCommand() : Command("send", "actor", "send messages to a mailbox's socket (optionally confirmed)") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()
        ("confirm", "wait for each message's answer and print its sequence number")
        ("timeout", po::value<std::string>()->value_name("SECONDS"), "with --confirm: wait this long per answer (default 10)")
        ("retry", po::value<std::string>()->value_name("SECONDS"),
         "retry this long while the mailbox's buffer is full or no mailbox is bound (default 0)")
        ("expect-uid", po::value<std::string>()->value_name("UID"),
         "with --confirm: the mailbox runs as UID (default: root or you)")
        ("escaped", "messages use mqtool's escapes (\\n \\t \\\\ \\xHH)");
    po::options_description all;
    all.add(opts);
    all.add_options()("socket", po::value<std::string>(), "")("msg", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("socket", 1).add("msg", -1);
    po::variables_map vm;
    const std::string usage =
        "send SOCKET [MSG...] [--confirm] [--timeout SECONDS] [--retry SECONDS] [--expect-uid UID] [--escaped]";
    try {
      po::store(po::command_line_parser(args)
                    .options(all)
                    .positional(pos)
                    .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                    .run(),
                vm);
      if (vm.count("help")) {
        std::cout << "usage: mqtool " << usage
                  << "\nSends each MSG (or each line of standard input) as one datagram to the mailbox at SOCKET.\n"
                     "Exit: 0 every message sent (and confirmed), 1 an answer did not come in time,\n"
                     "2 usage error, 3 any other error (also: standard input closed with no MSG given).\n\n"
                  << opts;
        return kExitOk;
      }
      po::notify(vm);
    } catch (const po::error& e) {
      throw UsageError(e.what());
    }
    const std::string socket = Required(vm, "socket", "SOCKET (the mailbox's socket path)");
    const bool confirm = vm.count("confirm") > 0;
    const bool escaped = vm.count("escaped") > 0;
    if (vm.count("timeout") && !confirm) throw UsageError("--timeout needs --confirm");
    if (vm.count("expect-uid") && !confirm) throw UsageError("--expect-uid needs --confirm");
    std::optional<uint32_t> expect_uid;
    if (vm.count("expect-uid")) {
      const std::string& v = vm["expect-uid"].as<std::string>();
      uint64_t uid = 0;
      bool ok = !v.empty() && v.size() <= 10;
      for (char c : v) {
        if (c < '0' || c > '9') ok = false;
        if (ok) uid = uid * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!ok || uid > 0xfffffffeu)
        throw UsageError("--expect-uid: '" + v + "' is not a uid (expected a number from 0 to 4294967294)");
      expect_uid = static_cast<uint32_t>(uid);
    }
    const milliseconds timeout = vm.count("timeout") ? ParseSeconds(vm["timeout"].as<std::string>(), "--timeout")
                                                     : milliseconds(10000);
    const milliseconds retry = vm.count("retry") ? ParseSeconds(vm["retry"].as<std::string>(), "--retry")
                                                 : milliseconds(0);

    // fd 0 or 1 closed at start (`<&-`, `>&-`) now point at /dev/null:
    // refuse rather than send nothing, or lose the printed seqs.
    if (!vm.count("msg") && StdinWasClosed())
      throw ToolError("standard input is closed (fd 0 was not open when mqtool started, as with <&-); nothing "
                      "was sent. Give messages as arguments or on standard input");
    if (confirm) FailIfStdoutClosed("nothing was sent");
    // Messages come from the arguments, or one per line of standard input.
    std::vector<std::string> from_args;
    if (vm.count("msg")) from_args = vm["msg"].as<std::vector<std::string>>();
    size_t next_arg = 0;
    StdinLines lines;
    auto next = [&](std::string* msg) -> bool {
      if (vm.count("msg")) {
        if (next_arg >= from_args.size()) return false;
        *msg = from_args[next_arg++];
      } else if (!lines.Next(msg)) {
        return false;
      }
      if (escaped) *msg = UnescapePayload(*msg);
      return true;
    };
    // Whether the next message is ready without waiting.
    auto ready = [&]() { return vm.count("msg") ? next_arg < from_args.size() : lines.Buffered(); };
    // Up to kBatchMax messages that are ready together (at least one, unless
    // the input has ended): the first may wait, the others may not.
    auto next_batch = [&](std::vector<std::string>* batch) -> bool {
      batch->clear();
      std::string msg;
      if (!next(&msg)) return false;
      batch->push_back(std::move(msg));
      while (batch->size() < mq::Sender::kBatchMax && ready() && next(&msg)) batch->push_back(std::move(msg));
      return true;
    };
    const size_t total = vm.count("msg") ? from_args.size() : 0;  // 0: unknown (standard input)
    return confirm ? SendConfirmed(socket, next, next_batch, timeout, retry, expect_uid, total)
                   : SendPlain(socket, next_batch, retry);
  }

 private:
  template <typename NextBatch>
  int SendPlain(const std::string& socket, NextBatch& next_batch, milliseconds retry) {
    mq::SendOptions so;
    so.retry_for = retry;
    std::unique_ptr<mq::Sender> sender;
    ThrowIfError(OpenWithRetry([&] { return mq::Sender::Open(socket, so).MoveTo(&sender); }, retry), socket);
    std::vector<std::string> batch;
    std::vector<std::string_view> views;
    for (uint64_t n = 1; next_batch(&batch);) {
      views.assign(batch.begin(), batch.end());
      size_t sent = 0;
      const mq::Status s = sender->SendBatch(views, &sent);
      n += sent;
      ThrowIfError(s, socket, "Message " + std::to_string(n) + " and later ones were not sent.");
    }
    return kExitOk;
  }

  // "1-4, 6, 9-12" for ascending message numbers.
  static std::string Ranges(const std::vector<uint64_t>& n) {
    std::string out;
    for (size_t i = 0; i < n.size();) {
      size_t j = i;
      while (j + 1 < n.size() && n[j + 1] == n[j] + 1) ++j;
      if (!out.empty()) out += ", ";
      out += std::to_string(n[i]);
      if (j > i) out += "-" + std::to_string(n[j]);
      i = j + 1;
    }
    return out;
  }

  // A confirmation that is not OK: was the message refused (not stored), or
  // is its fate unknown (no answer: timed out, or the mailbox stopped or was
  // replaced before answering)?
  static bool FateUnknown(const mq::Status& s) {
    if (s.IsTimedOut()) return true;
    // The mailbox's "could not store" answer is kIOError with EIO; the
    // sender's own "stopped/restarted before it answered" carry the errno
    // of the failed send (ECONNREFUSED, EPIPE, ENOTCONN, ECONNRESET).
    return s.code() == mq::Status::Code::kIOError && s.sys_errno() != EIO;
  }

  template <typename Next, typename NextBatch>
  int SendConfirmed(const std::string& socket, Next& next, NextBatch& next_batch, milliseconds timeout, milliseconds retry,
                    std::optional<uint32_t> expect_uid, size_t total) {
    mq::ConfirmedSenderOptions co;
    // Lines that are ready together go packed, up to 64 in one datagram,
    // once the mailbox offers packs (docs/mailbox.md, "Packed sends"); a
    // mailbox that does not gets one datagram a line (docs/mqtool.md).
    co.pack = true;
    co.window = 64;
    co.reply_timeout = timeout;
    co.connect_retry = retry;
    co.expected_uid = expect_uid;
    std::unique_ptr<mq::ConfirmedSender> cs;
    ThrowIfError(mq::ConfirmedSender::Open(socket, co).MoveTo(&cs), socket);
    auto strip = [&](const mq::Status& s) {
      std::string msg = s.message();
      if (msg.rfind(socket + ": ", 0) == 0) msg = msg.substr(socket.size() + 2);
      return msg;
    };
    Output out;
    bool stdout_closed = false;
    std::vector<mq::Confirmation> got;
    std::vector<uint64_t> confirmed, refused, unknown;  // message numbers (from 1)
    uint64_t last_seq = 0;                              // highest confirmed seq
    std::string unknown_why;
    bool only_timeouts = true;
    // Prints the answers in send order: each seq on stdout, each refusal on
    // stderr; the unknown ones are summed up at the end.
    auto report = [&]() {
      for (const mq::Confirmation& c : got) {
        const uint64_t n = c.ticket + 1;
        if (c.status.ok()) {
          confirmed.push_back(n);
          last_seq = std::max(last_seq, c.seq);
          if (!stdout_closed && !out.Line(std::to_string(c.seq))) stdout_closed = true;
        } else if (FateUnknown(c.status)) {
          unknown.push_back(n);
          if (!c.status.IsTimedOut()) only_timeouts = false;
          if (unknown_why.empty()) unknown_why = strip(c.status);
        } else {
          refused.push_back(n);
          std::fprintf(stderr, "mqtool: %s: message %llu was not stored: %s\n", socket.c_str(),
                       static_cast<unsigned long long>(n), strip(c.status).c_str());
        }
      }
      got.clear();
      if (!stdout_closed) out.Flush();
      std::fflush(stderr);
    };
    std::string msg;
    std::vector<std::string> batch;
    std::vector<std::string_view> views;
    uint64_t sent = 0;
    mq::Status not_sent;  // why message sent+1 was not sent, if it was not
    while (refused.empty() && unknown.empty() && next_batch(&batch)) {
      views.assign(batch.begin(), batch.end());
      size_t went = 0;
      not_sent = cs->SendAsyncBatch(views, &went).status();
      sent += went;
      if (!not_sent.ok()) break;
      if (cs->in_flight() >= co.window / 2) {
        mq::Status s = cs->Collect(milliseconds(0), &got);
        if (!s.ok() && !s.IsTimedOut()) throw StatusError(s, socket);
        report();
      }
    }
    ThrowIfError(cs->Flush(&got), socket);
    report();
    if (stdout_closed) return kExitOk;  // the reader went away: as every command does
    const bool more = !not_sent.ok() || !refused.empty() || !unknown.empty();
    if (!more) return kExitOk;
    // Everything after the first message that was not confirmed stays unsent.
    bool any_unsent = !not_sent.ok();
    if (!any_unsent) {
      if (total > 0) {
        any_unsent = sent < total;
      } else {
        any_unsent = next(&msg);
      }
    }
    if (!unknown_why.empty()) std::fprintf(stderr, "mqtool: %s: %s\n", socket.c_str(), unknown_why.c_str());
    if (!not_sent.ok())
      std::fprintf(stderr, "mqtool: %s: message %llu was not sent: %s\n", socket.c_str(),
                   static_cast<unsigned long long>(sent + 1), strip(not_sent).c_str());
    std::fprintf(stderr, "mqtool: %s: confirmed: %s\n", socket.c_str(),
                 confirmed.empty() ? "none"
                                   : ("message " + Ranges(confirmed) + " (their seqs are on standard output)").c_str());
    if (!refused.empty())
      std::fprintf(stderr, "mqtool: %s: refused, not stored: message %s\n", socket.c_str(), Ranges(refused).c_str());
    std::string unknown_line = "none";
    if (!unknown.empty()) {
      unknown_line = "message " + Ranges(unknown) +
                     ": each may or may not have been stored; to see which were, dump the mailbox's queue: "
                     "mqtool dump QUEUE --all --from " +
                     std::to_string(last_seq + 1);
      if (last_seq > 0) unknown_line += " (the last confirmed seq is " + std::to_string(last_seq) + ")";
    }
    std::fprintf(stderr, "mqtool: %s: sent, fate unknown: %s\n", socket.c_str(), unknown_line.c_str());
    std::string unsent_line = "none";
    if (any_unsent) {
      unsent_line = "message " + std::to_string(sent + 1);
      if (total > 0) {
        if (total > sent + 1) unsent_line += "-" + std::to_string(total);
      } else {
        unsent_line += " and every later line";
      }
    }
    std::fprintf(stderr, "mqtool: %s: not sent: %s\n", socket.c_str(), unsent_line.c_str());
    const bool timeouts_only = refused.empty() && not_sent.ok() && only_timeouts;
    return timeouts_only ? kExitNothing : kExitError;
  }

  // Sender::Open fails at once if no mailbox is bound; retry for `retry`.
  template <typename F>
  static mq::Status OpenWithRetry(F open, milliseconds retry) {
    const auto deadline = std::chrono::steady_clock::now() + retry;
    while (true) {
      mq::Status s = open();
      const bool absent = s.IsNotFound() || s.sys_errno() == ECONNREFUSED;
      if (s.ok() || !absent || std::chrono::steady_clock::now() >= deadline) return s;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }
};

}  // namespace
std::unique_ptr<Command> MakeSendCommand() { return std::make_unique<SendCommand>(); }
}  // namespace mqtool
