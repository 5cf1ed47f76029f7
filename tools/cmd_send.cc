// mqtool send: send messages to a mailbox's socket (docs/mailbox.md).
//
//   mqtool send SOCKET [MSG...] [--confirm] [--timeout SECONDS]
//                      [--retry SECONDS] [--escaped]
//
// Each MSG is one message; with no MSG, each line of standard input is one
// (without its newline).
//   --confirm          wait for the mailbox's answer to each message (it
//                      comes once the message is durable under the mailbox's
//                      sync policy) and print its sequence number, one per line
//   --timeout SECONDS  with --confirm: how long to wait for each answer (default 10)
//   --retry SECONDS    keep retrying this long while the mailbox's buffer is
//                      full or no mailbox is bound at SOCKET (default 0)
//   --escaped          MSG and lines use mqtool's escapes (\n \t \\ \xHH ...)
//
// Exit: 0 every message sent (and confirmed), 1 an answer did not come in
// time, 2 usage error, 3 any other error (a message on stderr names which).
#include <cerrno>
#include <iostream>
#include <thread>
#include <string>
#include <vector>

#include "common.h"
#include "mq/sender.h"

namespace mqtool {
namespace {

using std::chrono::milliseconds;

class SendCommand final : public Command {
 public:
  const char* name() const override { return "send"; }
  const char* group() const override { return "actor"; }
  const char* summary() const override { return "send messages to a mailbox's socket (optionally confirmed)"; }

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts("options");
    AddHelp(&opts);
    opts.add_options()
        ("confirm", "wait for each message's answer and print its sequence number")
        ("timeout", po::value<std::string>()->value_name("SECONDS"), "with --confirm: wait this long per answer (default 10)")
        ("retry", po::value<std::string>()->value_name("SECONDS"),
         "retry this long while the mailbox's buffer is full or no mailbox is bound (default 0)")
        ("escaped", "messages use mqtool's escapes (\\n \\t \\\\ \\xHH)");
    po::options_description all;
    all.add(opts);
    all.add_options()("socket", po::value<std::string>(), "")("msg", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("socket", 1).add("msg", -1);
    po::variables_map vm;
    const std::string usage = "send SOCKET [MSG...] [--confirm] [--timeout SECONDS] [--retry SECONDS] [--escaped]";
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
    auto next = [&](std::string* msg) -> bool {
      if (vm.count("msg")) {
        if (next_arg >= from_args.size()) return false;
        *msg = from_args[next_arg++];
      } else if (!std::getline(std::cin, *msg)) {
        return false;
      }
      if (escaped) *msg = UnescapePayload(*msg);
      return true;
    };
    return confirm ? SendConfirmed(socket, next, timeout, retry) : SendPlain(socket, next, retry);
  }

 private:
  template <typename Next>
  int SendPlain(const std::string& socket, Next& next, milliseconds retry) {
    mq::SendOptions so;
    so.retry_for = retry;
    std::unique_ptr<mq::Sender> sender;
    ThrowIfError(OpenWithRetry([&] { return mq::Sender::Open(socket, so, &sender); }, retry), socket);
    std::string msg;
    for (uint64_t n = 1; next(&msg); ++n)
      ThrowIfError(sender->Send(msg), socket, "Message " + std::to_string(n) + " and later ones were not sent.");
    return kExitOk;
  }

  template <typename Next>
  int SendConfirmed(const std::string& socket, Next& next, milliseconds timeout, milliseconds retry) {
    mq::ConfirmedSenderOptions co;
    co.window = 64;
    co.reply_timeout = timeout;
    co.connect_retry = retry;
    std::unique_ptr<mq::ConfirmedSender> cs;
    ThrowIfError(mq::ConfirmedSender::Open(socket, co, &cs), socket);
    Output out;
    std::vector<mq::Confirmation> got;
    // Prints answers in send order; stops at the first failure.
    auto report = [&]() -> int {
      for (const mq::Confirmation& c : got) {
        if (!c.status.ok()) {
          std::string msg = c.status.message();
          if (msg.rfind(socket + ": ", 0) == 0) msg = msg.substr(socket.size() + 2);
          msg = socket + ": message " + std::to_string(c.ticket + 1) + ": " + msg +
                ". Messages after it were sent, but their answers are not shown";
          if (c.status.IsTimedOut()) {
            std::fprintf(stderr, "mqtool: %s\n", msg.c_str());
            return kExitNothing;
          }
          throw ToolError(msg);
        }
        if (!out.Line(std::to_string(c.seq))) return kExitOk;
      }
      got.clear();
      out.Flush();
      return -1;
    };
    std::string msg;
    for (uint64_t n = 1; next(&msg); ++n) {
      ThrowIfError(cs->SendAsync(msg), socket, "Message " + std::to_string(n) + " and later ones were not sent.");
      if (cs->in_flight() >= co.window / 2) {
        mq::Status s = cs->Collect(milliseconds(0), &got);
        if (!s.ok() && !s.IsTimedOut()) throw StatusError(s, socket);
        if (int rc = report(); rc >= 0) return rc;
      }
    }
    ThrowIfError(cs->Flush(&got), socket);
    if (int rc = report(); rc >= 0) return rc;
    return kExitOk;
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
