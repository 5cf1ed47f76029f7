// Notifier: a queue and one thread of confirmed sends (notifier.h).
#include "notifier.h"

#include <memory>

#include "mq/sender.h"

namespace mq::supervisor {

Notifier::Notifier() : thread_([this] { Loop(); }) {}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Notifier::Post(std::string socket_path, std::string payload) {
  {
    std::lock_guard<std::mutex> g(mu_);
    queue_.emplace_back(std::move(socket_path), std::move(payload));
  }
  cv_.notify_all();
}

uint64_t Notifier::undelivered() {
  std::lock_guard<std::mutex> g(mu_);
  return undelivered_;
}

void Notifier::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything delivered
    auto [path, payload] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::unique_ptr<ConfirmedSender> s;
    ConfirmedSenderOptions o;
    o.reply_timeout = std::chrono::seconds(5);
    uint64_t seq = 0;
    const bool ok = ConfirmedSender::Open(path, o).MoveTo(&s).ok() &&
                    s->SendConfirmed(payload, std::chrono::seconds(5)).MoveTo(&seq).ok();
    lock.lock();
    if (!ok) ++undelivered_;
  }
}

}  // namespace mq::supervisor
