// mqbridge: carries mailbox messages between hosts over NATS JetStream
// (docs/bridge.md).
//   mqbridge run CONFIG     until SIGTERM or SIGINT
//   mqbridge check CONFIG   parse the configuration only
//   mqbridge status CONFIG [--json]   the running bridge's figures, per route
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <nats/nats.h>

#include "mq/bridge.h"

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }
void Ready(void*) {
  std::fprintf(stderr, "mqbridge: ready\n");
  std::fflush(stderr);
}
}  // namespace

int main(int argc, char** argv) {
  const bool status = argc >= 3 && std::strcmp(argv[1], "status") == 0;
  const bool json = status && argc == 4 && std::strcmp(argv[3], "--json") == 0;
  if (!(argc == 3 || json) || (std::strcmp(argv[1], "run") != 0 && std::strcmp(argv[1], "check") != 0 && !status)) {
    std::fprintf(stderr, "usage: mqbridge run CONFIG | mqbridge check CONFIG | mqbridge status CONFIG [--json]\n");
    return 2;
  }
  auto config = mq::bridge::LoadConfig(argv[2]);
  if (!config.ok()) {
    std::fprintf(stderr, "mqbridge: %s\n", config.status().message().c_str());
    return 2;
  }
  if (std::strcmp(argv[1], "check") == 0) return 0;
  if (status) {
    auto st = mq::bridge::ReadStatus(*config);
    if (!st.ok()) {
      std::fprintf(stderr, "mqbridge: %s\n", st.status().message().c_str());
      return 1;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    std::fputs(mq::bridge::FormatStatus(*st, json, now).c_str(), stdout);
    return 0;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  mq::bridge::BridgeStats stats;
  mq::Status s = mq::bridge::Run(*config, g_stop, &stats, &Ready, nullptr);
  std::fprintf(stderr, "mqbridge: published %llu (%llu duplicates), republished %llu, delivered %llu, redelivered %llu, deduplicated %llu\n",
               static_cast<unsigned long long>(stats.published.load()), static_cast<unsigned long long>(stats.pub_duplicates.load()),
               static_cast<unsigned long long>(stats.republished.load()), static_cast<unsigned long long>(stats.delivered.load()),
               static_cast<unsigned long long>(stats.redelivered.load()), static_cast<unsigned long long>(stats.deduplicated.load()));
  nats_Close();  // the client library's threads and memory (LeakSanitizer checks the exit)
  if (!s.ok()) {
    std::fprintf(stderr, "mqbridge: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
