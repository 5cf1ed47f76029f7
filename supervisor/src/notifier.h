// Delivers the supervisor's DOWN messages to its children's monitors by
// confirmed send, in order, from a thread of its own, so that a slow or
// missing monitor never holds up the supervisor's loop (mq/run.h). Internal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace mq::supervisor {

class Notifier {
 public:
  Notifier();
  ~Notifier();  // delivers what is queued (each waiting at most 5 s), then stops
  void Post(std::string socket_path, std::string payload);
  uint64_t undelivered();

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> queue_;  // guarded by mu_
  bool stop_ = false;                                      // guarded by mu_
  uint64_t undelivered_ = 0;                               // guarded by mu_
  std::thread thread_;
};

}  // namespace mq::supervisor
