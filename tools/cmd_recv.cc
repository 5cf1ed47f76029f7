// mqtool recv: receive messages from a queue selectively, as an actor would
// (docs/mailbox.md).
//
//   mqtool recv QUEUE [--socket PATH] [--match EXPR] [--count N | --follow]
//                     [--timeout SECONDS] [--ack-after-print]
//                     [--format raw|jsonl] [--sync always|batch|none]
//                     [--key SPEC [--rekey]]
//
//   --socket PATH      also run the mailbox's socket at PATH while receiving,
//                      so senders can reach it; without it, only messages
//                      already stored are received (the queue must exist)
//   --match EXPR       any (default), key:K or prefix:P (escapes as in dump's
//                      text output: \\ \n \r \t \0 \" \xHH)
//   --count N          receive N messages (default 1)
//   --follow           receive until interrupted (SIGINT/SIGTERM: exit 0)
//   --timeout SECONDS  wait this long for each message; default: for ever
//                      with --socket, 0 (don't wait) without
//   --ack-after-print  consume each message only after it was written to
//                      standard output (at-least-once); the default consumes
//                      it first (a message can be lost if the output fails)
//   --format raw       each payload's bytes and a newline (default)
//   --format jsonl     {"seq":N,"payload_b64":"..."} per line
//   --sync POLICY      the mailbox's sync policy (default batch)
//   --key SPEC         key extractor (none, first:N, until:C); default: the
//                      one the queue's log records. A queue that records
//                      none takes SPEC and records it; a different one than
//                      the recorded is refused (exit 3, nothing changes)
//   --rekey            with --key: change the queue's recorded extractor to
//                      SPEC (recorded in the log; the index is rebuilt)
//
// Exit: 0 received what was asked, 1 timed out first, 2 usage error, 3 any
// other error.
#include <pthread.h>
#include <signal.h>

#include <mutex>
#include <optional>
#include <thread>

#include "common.h"
#include "mq/mailbox.h"

namespace mqtool {
namespace {

using std::chrono::milliseconds;

// Turns SIGINT/SIGTERM into a clean Close of the mailbox (which wakes the
// receive), so an interrupted recv unlinks its socket and closes the queue.
class SignalCloser {
 public:
  SignalCloser() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // our own wake-up at the end
    pthread_sigmask(SIG_BLOCK, &set_, &old_);  // before any mailbox thread starts
    thread_ = std::thread([this] {
      int sig = 0;
      while (sigwait(&set_, &sig) == 0) {
        std::lock_guard<std::mutex> g(mu_);
        if (done_) return;
        interrupted_ = true;
        if (mb_ != nullptr) (void)mb_->Close();
      }
    });
  }
  ~SignalCloser() {
    {
      std::lock_guard<std::mutex> g(mu_);
      done_ = true;
      mb_ = nullptr;
    }
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void Watch(mq::Mailbox* mb) {
    std::lock_guard<std::mutex> g(mu_);
    mb_ = mb;
  }
  bool interrupted() {
    std::lock_guard<std::mutex> g(mu_);
    return interrupted_;
  }

 private:
  sigset_t set_, old_;
  std::mutex mu_;
  mq::Mailbox* mb_ = nullptr;
  bool interrupted_ = false, done_ = false;
  std::thread thread_;
};

class RecvCommand final : public Command {
 public:
  RecvCommand() : Command("recv", "actor", "receive messages selectively (optionally running the socket)") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()
        ("socket", po::value<std::string>()->value_name("PATH"), "run the mailbox's socket at PATH while receiving")
        ("match", po::value<std::string>()->value_name("EXPR")->default_value("any"), "any, key:K or prefix:P")
        ("count", po::value<std::string>()->value_name("N"), "receive N messages (default 1)")
        ("follow", "receive until interrupted")
        ("timeout", po::value<std::string>()->value_name("SECONDS"),
         "wait this long for each message (default: for ever with --socket, 0 without)")
        ("ack-after-print", "consume each message only after printing it (at-least-once)")
        ("format", po::value<std::string>()->value_name("FMT")->default_value("raw"), "raw or jsonl")
        ("sync", po::value<std::string>()->value_name("POLICY")->default_value("batch"), "always, batch or none")
        ("key", po::value<std::string>()->value_name("SPEC"),
         "key extractor: none, first:N or until:C (default: the one the queue records)")
        ("rekey", "with --key: change the queue's recorded key extractor to SPEC")
        ("spin-us", po::value<std::string>()->value_name("N"),
         "with --socket: when nothing is there, look again for up to N microseconds before sleeping "
         "(fewer wake-ups under load, a busy core meanwhile; default 0)");
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"},
                   "recv QUEUE [--socket PATH] [--match EXPR] [--count N | --follow] [--timeout SECONDS] "
                   "[--ack-after-print] [--format raw|jsonl] [--sync always|batch|none] [--key SPEC [--rekey]] [--spin-us N]",
                   "Receives the oldest messages that match EXPR, prints them and consumes them.\n"
                   "Exit: 0 received what was asked (--follow: until interrupted), 1 timed out first,\n"
                   "2 usage error, 3 any other error (also: standard output closed or not writable).", &vm))
      return kExitOk;
    const std::string queue = Required(vm, "queue", "QUEUE (the queue file)");
    const bool follow = vm.count("follow") > 0;
    if (follow && vm.count("count")) throw UsageError("--count and --follow exclude each other");
    const uint64_t count = vm.count("count") ? ParseUnsigned(vm["count"].as<std::string>(), "--count") : 1;
    const std::string format = vm["format"].as<std::string>();
    if (format != "raw" && format != "jsonl") throw UsageError("--format: '" + format + "' is not one of: raw, jsonl");
    const std::optional<mq::Pattern> pattern = ParseMatch(vm["match"].as<std::string>());
    auto sync = mq::ParseSyncPolicy(vm["sync"].as<std::string>());
    if (!sync.ok()) throw UsageError("--sync: " + sync.status().message());

    mq::MailboxOptions o;
    o.queue_path = queue;
    o.store.sync = *sync;
    if (vm.count("socket")) o.socket_path = vm["socket"].as<std::string>();
    if (vm.count("spin-us")) {
      if (o.socket_path.empty()) throw UsageError("--spin-us needs --socket: without a socket nothing arrives to wait for");
      o.receive_spin = std::chrono::microseconds(ParseUnsigned(vm["spin-us"].as<std::string>(), "--spin-us", 10000000));
    }
    // Under a supervisor that bound PATH and passes it (MQ_SOCKET_FD, MQ_SOCKET: docs/supervision.md).
    if (!o.socket_path.empty()) ThrowIfError(mq::InheritSocketFromEnvironment(&o), o.socket_path);
    if (vm.count("key")) {
      auto key = mq::KeyExtractor::Parse(vm["key"].as<std::string>());
      if (!key.ok()) throw UsageError("--key: " + key.status().message());
      o.store.key = *key;
      o.store.rekey = vm.count("rekey") > 0;
    } else if (vm.count("rekey")) {
      throw UsageError("--rekey needs --key SPEC: the key extractor to record");
    }  // else: the store uses the one the queue's log records
    // Without a socket nothing can arrive: receive what is stored, don't
    // create a queue that is not there.
    o.store.create_if_missing = !o.socket_path.empty();
    mq::Mailbox::Timeout timeout = o.socket_path.empty() ? mq::Mailbox::kPoll : mq::Mailbox::kForever;
    if (vm.count("timeout")) timeout = ParseSeconds(vm["timeout"].as<std::string>(), "--timeout");
    if (pattern->kind() == mq::Pattern::Kind::kKey && vm.count("key") && !o.store.key.enabled())
      throw UsageError("--match key:... needs a key extractor, and --key none gives none; give --key first:N or "
                       "--key until:C");

    // fd 1 was closed at start (`>&-`): printing would lose every message
    // received, so refuse before opening the queue.
    FailIfStdoutClosed("nothing was received");

    SignalCloser signals;
    std::unique_ptr<mq::Mailbox> mb;
    ThrowIfError(mq::Mailbox::Open(o).MoveTo(&mb), queue);
    if (pattern->kind() == mq::Pattern::Kind::kKey && !mb->store()->key_extractor().enabled()) {
      (void)mb->Close();
      throw UsageError("--match key:... needs a key extractor: the queue records none; give --key first:N or "
                       "--key until:C");
    }
    signals.Watch(mb.get());
    const bool ack_after = vm.count("ack-after-print") > 0;
    Output out;
    int rc = kExitOk;
    for (uint64_t n = 0; follow || n < count; ++n) {
      mq::Message m;
      mq::Status s = ack_after ? mb->Take(*pattern, timeout, &m) : mb->Receive(*pattern, timeout, &m);
      if (signals.interrupted()) {
        rc = follow ? kExitOk : kExitNothing;
        break;
      }
      if (s.IsTimedOut()) {
        rc = kExitNothing;
        break;
      }
      if (!s.ok()) {
        signals.Watch(nullptr);
        throw StatusError(s, queue);
      }
      bool printed = false;
      try {
        if (format == "jsonl")
          (void)out.Line(JsonObject().Number("seq", m.seq).Bytes("payload_b64", m.payload).str());
        else
          (void)out.Line(m.payload);
        printed = out.Flush();
      } catch (const ToolError& e) {
        // The write failed (a full disk, /dev/full): with --ack-after-print
        // the message stays pending, never acked.
        signals.Watch(nullptr);
        if (!ack_after) throw ToolError(std::string(e.what()) + " (seq " + std::to_string(m.seq) + " was consumed)");
        (void)mb->Release(m.seq);
        (void)mb->Close();
        throw ToolError(std::string(e.what()) + " (seq " + std::to_string(m.seq) + " was not acked: still pending)");
      }
      if (ack_after) {
        if (!printed) {
          (void)mb->Release(m.seq);  // not printed: leave it for the next receiver
          break;
        }
        s = mb->Ack(m.seq);
        if (!s.ok() && !signals.interrupted()) {
          signals.Watch(nullptr);
          throw StatusError(s, queue, "The message was printed but is still pending.");
        }
      }
      if (!printed) break;  // the reader went away: stop quietly
    }
    signals.Watch(nullptr);
    ThrowIfError(mb->Close(), queue);
    return rc;
  }
};

}  // namespace
std::unique_ptr<Command> MakeRecvCommand() { return std::make_unique<RecvCommand>(); }
}  // namespace mqtool
