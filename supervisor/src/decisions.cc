// The pure decisions of a supervisor: restart or not, which children, and
// when to give up (mq/supervisor.h).
#include <string.h>

#include <algorithm>

#include "mq/supervisor.h"

namespace mq::supervisor {

std::string ExitReason::ToString() const {
  switch (kind) {
    case Kind::kExit:
      return "exit:" + std::to_string(code);
    case Kind::kSignal: {
      const char* abbrev = ::sigabbrev_np(code);
      return abbrev != nullptr ? std::string("signal:") + abbrev : "signal:" + std::to_string(code);
    }
    case Kind::kNoProc:
      return "noproc";
    case Kind::kUnknown:
      break;
  }
  return "unknown";
}

bool ShouldRestart(RestartType type, const ExitReason& reason) {
  switch (type) {
    case RestartType::kPermanent:
      return true;
    case RestartType::kTransient:
      return !reason.normal();
    case RestartType::kTemporary:
      return false;
  }
  return false;
}

std::vector<size_t> ChildrenToRestart(Strategy strategy, size_t failed, size_t count) {
  std::vector<size_t> out;
  if (failed >= count) return out;
  size_t from = failed, to = failed + 1;
  if (strategy == Strategy::kOneForAll) from = 0, to = count;
  if (strategy == Strategy::kRestForOne) to = count;
  for (size_t i = from; i < to; ++i) out.push_back(i);
  return out;
}

bool RestartIntensity::Record(TimePoint now) {
  // Restarts older than the period no longer count.
  auto old = std::find_if(times_.begin(), times_.end(), [&](TimePoint t) { return now - t < period_; });
  times_.erase(times_.begin(), old);
  times_.push_back(now);
  return times_.size() <= intensity_;
}

Duration Backoff::Next() {
  if (policy_.immediate && attempt_ == 0) {
    attempt_ = 1;  // the next one waits `first`
    return Duration(0);
  }
  const int64_t first = std::max<int64_t>(policy_.first.count(), 0);
  const int64_t cap = std::max<int64_t>(policy_.cap.count(), first);
  const uint32_t doublings = attempt_ - (policy_.immediate ? 1 : 0);
  int64_t d = first;
  for (uint32_t i = 0; i < doublings && d < cap; ++i) d = d > cap / 2 ? cap : d * 2;
  d = std::min(d, cap);
  if (attempt_ < 64) ++attempt_;
  const double jitter = std::clamp(policy_.jitter, 0.0, 1.0);
  const auto span = static_cast<uint64_t>(static_cast<double>(d) * jitter);
  if (span == 0 || !random_) return Duration(d);
  return Duration(d - static_cast<int64_t>(random_() % (span + 1)));
}

Duration Backoff::AfterExit(Duration ran, Duration period) {
  if (ran > period) Reset();  // not a repeated crash within the window
  return Next();
}

}  // namespace mq::supervisor
