// mqtool replay: re-sends a queue's stored messages, in log order, as
// datagrams to a mailbox socket, or writes them to stdout in dump's raw, text
// or jsonl form. It reads the queue like dump (no lock, no write), so the source
// queue never changes and may be in use.
//
//   mqtool replay QUEUE --to SOCKET|- [--from SEQ] [--until SEQ] [--key K]
//                 [--key-extractor SPEC] [--include-consumed] [--rate N]
//                 [--confirm] [--format raw|text|jsonl]
//
//   --to SOCKET        a mailbox's socket (mq::Sender, or mq::ConfirmedSender
//                      with --confirm); "-" writes to stdout in --format
//   --include-consumed consumed messages too (default: pending only)
//   --rate N           at most N messages per second (default 0: no limit)
//   --confirm          wait for the mailbox to confirm each message stored
//                      (pipelined); stops at the first one that is not
//   --format           with --to -: raw (default), text or jsonl, as in dump
//
// After sending to a socket it prints one line to stdout: how many messages
// went, their seq range, and with --confirm the seqs the target gave them.
//
// Exit: 0 done (also when the reader of stdout stops reading), 1 damaged
// bytes of the source were skipped (named on stderr; every intact message was
// sent), 2 usage error, 3 the queue could not be read or a send failed (the
// message says how many went before it).
#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

#include "common.h"
#include "mq/sender.h"

namespace mqtool {
namespace {

using Clock = std::chrono::steady_clock;

// Where the messages go: stdout, or a mailbox with or without confirmations.
class Target {
 public:
  virtual ~Target() = default;
  // Returns false to stop quietly (stdout closed); throws on a failed send.
  virtual bool Put(const mq::LogMessage& r) = 0;
  // Waits for whatever is in flight; throws if any failed.
  virtual void Finish() = 0;
  virtual std::string Summary() const { return {}; }
};

class StdoutTarget final : public Target {
 public:
  explicit StdoutTarget(RecordFormat format) : format_(format) { std::setvbuf(stdout, nullptr, _IOFBF, 1 << 20); }
  bool Put(const mq::LogMessage& r) override { return WriteRecord(&out_, r, format_); }
  void Finish() override { out_.Flush(); }
  bool closed() const { return out_.closed(); }

 private:
  RecordFormat format_;
  Output out_;
};

class SocketTarget final : public Target {
 public:
  explicit SocketTarget(const std::string& socket) : socket_(socket) {
    mq::SendOptions o;
    o.retry_for = std::chrono::seconds(10);  // while the mailbox's buffer is full
    ThrowIfError(mq::Sender::Open(socket, o).MoveTo(&sender_), socket);
  }
  bool Put(const mq::LogMessage& r) override {
    mq::Status s = sender_->Send(r.payload);
    if (!s.ok())
      throw StatusError(s, socket_, "Stopped at message " + std::to_string(r.seq) + " (" +
                                        std::to_string(r.payload.size()) + " bytes); " + Plural(sent_, "message") +
                                        (sent_ == 1 ? " was" : " were") + " sent before it");
    if (sent_++ == 0) first_ = r.seq;
    last_ = r.seq;
    return true;
  }
  void Finish() override {}
  std::string Summary() const override {
    return "sent " + Plural(sent_, "message") + Range("seq", first_, last_) + " to " + socket_ +
           " (not confirmed: add --confirm to wait until they are stored)";
  }

  static std::string Range(const char* what, uint64_t a, uint64_t b) {
    if (a == 0) return "";
    return std::string(" (") + what + " " + std::to_string(a) + (a == b ? "" : ".." + std::to_string(b)) + ")";
  }

 private:
  std::string socket_;
  std::unique_ptr<mq::Sender> sender_;
  uint64_t sent_ = 0, first_ = 0, last_ = 0;
};

class ConfirmedTarget final : public Target {
 public:
  explicit ConfirmedTarget(const std::string& socket) : socket_(socket) {
    mq::ConfirmedSenderOptions o;
    o.window = 64;
    ThrowIfError(mq::ConfirmedSender::Open(socket, o).MoveTo(&sender_), socket);
  }
  bool Put(const mq::LogMessage& r) override {
    uint64_t ticket = 0;
    mq::Status s = sender_->SendAsync(r.payload).MoveTo(&ticket);
    if (!s.ok()) {
      Drain();  // report what was confirmed before it
      throw StatusError(s, socket_, "Stopped at message " + std::to_string(r.seq) + "; " +
                                        Plural(confirmed_, "message") + " before it " +
                                        (confirmed_ == 1 ? "was" : "were") + " confirmed stored");
    }
    source_seq_.push_back(r.seq);
    if (first_ == 0) first_ = r.seq;
    last_ = r.seq;
    std::vector<mq::Confirmation> got;
    if (sender_->in_flight() > 0) {
      (void)sender_->Collect(std::chrono::milliseconds(0), &got);  // kTimedOut: none ready yet
      Check(got);
    }
    return true;
  }
  void Finish() override { Drain(); }
  std::string Summary() const override {
    return "sent " + Plural(confirmed_, "message") + SocketTarget::Range("seq", first_, last_) +
           " to " + socket_ + "; all confirmed stored" + SocketTarget::Range("as seq", new_first_, new_last_);
  }

 private:
  void Drain() {
    std::vector<mq::Confirmation> got;
    mq::Status s = sender_->Flush(&got);
    Check(got);
    ThrowIfError(s, socket_);
  }
  void Check(const std::vector<mq::Confirmation>& got) {
    for (const auto& c : got) {
      uint64_t src = c.ticket < source_seq_.size() ? source_seq_[c.ticket] : 0;
      if (!c.status.ok()) {
        if (failed_) continue;
        failed_ = true;
        std::vector<mq::Confirmation> rest;
        (void)sender_->Flush(&rest);
        throw StatusError(c.status, socket_,
                          "Message " + std::to_string(src) + " was not confirmed stored; " +
                              Plural(confirmed_, "message") + " before it " +
                              (confirmed_ == 1 ? "was" : "were"));
      }
      ++confirmed_;
      if (new_first_ == 0) new_first_ = c.seq;
      new_last_ = c.seq;
    }
  }

  std::string socket_;
  std::unique_ptr<mq::ConfirmedSender> sender_;
  std::vector<uint64_t> source_seq_;  // by ticket
  uint64_t confirmed_ = 0, first_ = 0, last_ = 0, new_first_ = 0, new_last_ = 0;
  bool failed_ = false;
};

class ReplayCommand final : public Command {
 public:
  ReplayCommand() : Command("replay", "data access", "re-send a queue's messages to a mailbox socket or stdout; read-only") {}

  int Run(const std::vector<std::string>& args) override {
    po::options_description opts = OptionsWithHelp();
    opts.add_options()
        ("to", po::value<std::string>()->value_name("SOCKET|-"), "the mailbox socket to send to, or - for stdout");
    AddSelectionOptions(&opts);
    opts.add_options()
        ("include-consumed", "consumed messages too (default: pending only)")
        ("rate", po::value<std::string>()->value_name("N"), "at most N messages per second (default: no limit)")
        ("confirm", "wait until the mailbox confirms each message stored")
        ("format", po::value<std::string>()->value_name("FMT"), "with --to -: raw (default), text or jsonl, as in dump");
    po::variables_map vm;
    if (!ParseArgs(args, opts, {"queue"},
                   std::string("replay QUEUE --to SOCKET|- [--include-consumed] ") + kSelectionUsage +
                       " [--rate N] [--confirm] [--format raw|text|jsonl]",
                   "Re-sends a queue's messages in order without locking or changing it.\n"
                   "Exit: 0 done, 1 damaged bytes of the queue were skipped, 2 usage error,\n"
                   "3 could not read the queue or a send failed.", &vm))
      return kExitOk;
    const std::string path = Required(vm, "queue", "QUEUE (the queue file to replay)");
    const std::string to = Required(vm, "to", "--to SOCKET|- (where to send the messages)");
    const bool to_stdout = to == "-";
    const bool confirm = vm.count("confirm") > 0;
    if (confirm && to_stdout) throw UsageError("--confirm needs a mailbox socket, not --to -");
    if (vm.count("format") && !to_stdout) throw UsageError("--format applies only to --to -");
    const RecordFormat format =
        ParseRecordFormat(vm.count("format") ? vm["format"].as<std::string>() : "raw", "raw, text, jsonl");
    const uint64_t rate = vm.count("rate") ? ParseUnsigned(vm["rate"].as<std::string>(), "--rate", 10000000) : 0;
    const Selection selection = GetSelection(vm, path, "include-consumed");

    // Check the source before connecting anywhere.
    (void)Preflight(path);
    std::unique_ptr<Target> target;
    StdoutTarget* out = nullptr;
    if (to_stdout) {
      auto t = std::make_unique<StdoutTarget>(format);
      out = t.get();
      target = std::move(t);
    } else if (confirm) {
      target = std::make_unique<ConfirmedTarget>(to);
    } else {
      target = std::make_unique<SocketTarget>(to);
    }

    Progress progress("replay " + path, FileSizeOrZero(path));
    const auto start = Clock::now();
    uint64_t n = 0;
    bool stopped = false;
    std::exception_ptr failure;
    mq::LogSummary sum;
    mq::Status s = ScanSelection(path, selection, &progress, [&](const mq::LogMessage& r) {
      if (rate != 0) {
        auto due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                               static_cast<double>(n) / static_cast<double>(rate)));
        std::this_thread::sleep_until(due);
      }
      ++n;
      // A failed send throws; it is carried out of the scan, not through it.
      try {
        if (!target->Put(r)) {
          stopped = true;
          return false;
        }
      } catch (...) {
        failure = std::current_exception();
        return false;
      }
      return true;
    }, &sum);
    progress.Done();
    if (failure) std::rethrow_exception(failure);
    ThrowIfError(s, path);
    target->Finish();
    if (stopped || (out != nullptr && out->closed())) return kExitOk;
    if (!to_stdout) {
      Output summary;
      summary.Line(path + ": " + target->Summary());
      summary.Flush();
    }
    const std::string again = "Run replay again with --from " + std::to_string(sum.last_seq + 1) + " to send it";
    return ReportSkippedDamage(path, sum, again) ? kExitNothing : kExitOk;
  }
};

}  // namespace
std::unique_ptr<Command> MakeReplayCommand() { return std::make_unique<ReplayCommand>(); }
}  // namespace mqtool
