#include "queue_open.h"

#include <unistd.h>

#include <chrono>

#include "command.h"
#include "numbers.h"
#include "status_error.h"

namespace mqtool {

void AddWaitOptions(po::options_description* options) {
  options->add_options()
      ("wait", "if a mailbox holds the queue, wait until it closes it instead of failing")
      ("timeout", po::value<std::string>()->value_name("SECONDS"),
       "with --wait: give up after this many seconds (default: wait for ever)");
}

WaitOptions GetWaitOptions(const po::variables_map& vm) {
  WaitOptions w;
  w.wait = vm.count("wait") > 0;
  if (vm.count("timeout")) {
    if (!w.wait) throw UsageError("--timeout needs --wait");
    w.timeout = static_cast<double>(ParseUnsigned(vm["timeout"].as<std::string>(), "--timeout", 86400u * 365));
  }
  return w;
}

mq::LogSummary Preflight(const std::string& path) {
  mq::LogSummary sum;
  mq::Status s = mq::ScanLog(path, mq::InspectOptions{}, [](const mq::LogMessage&) { return false; }).MoveTo(&sum);
  ThrowIfError(s, path);
  return sum;
}

void FailIfBusy(const std::string& path, const WaitOptions& wait) {
  if (wait.wait) return;
  pid_t holder = mq::QueueLockHolder(path);
  if (holder == 0) return;
  throw ToolError(path + ": queue in use by pid " + std::to_string(holder) + " (lock " + mq::LockPathFor(path) +
                  "); stop that process, or wait for it to close the queue. Or add --wait to wait for it");
}

mq::KeyExtractor RecordedKeyExtractor(const std::string& path) {
  mq::IndexInfo info;
  if (!mq::InspectIndex(path, mq::LogSummary{}, mq::InspectOptions{}).MoveTo(&info).ok()) return {};
  auto k = mq::KeyExtractor::Parse(info.extractor);
  return k.ok() ? k.value() : mq::KeyExtractor{};
}

std::unique_ptr<mq::Store> OpenForWriting(const std::string& path, mq::StoreOptions options,
                                          const WaitOptions& wait) {
  options.create_if_missing = false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::unique_ptr<mq::Store> store;
    mq::Status s = mq::Store::Open(path, options).MoveTo(&store);
    if (s.ok()) return store;
    if (!s.IsBusy()) throw StatusError(s, path);
    if (!wait.wait) throw StatusError(s, path, "Or add --wait to wait for it");
    std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
    if (wait.timeout > 0 && waited.count() >= wait.timeout)
      throw StatusError(s, path, "Gave up after waiting " + std::to_string(static_cast<uint64_t>(wait.timeout)) +
                                     " s (--timeout)");
    ::usleep(100 * 1000);
  }
}

}  // namespace mqtool
