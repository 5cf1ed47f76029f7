// Durations and names as they appear in a supervisor's configuration.
#include <charconv>
#include <limits>

#include "mq/supervisor.h"

namespace mq::supervisor {

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("duration '" + std::string(text) + "': " + why +
                                   "; write an integer and a unit: ms, s, m or h (\"500ms\", \"10s\")");
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return bad("does not start with a number");
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc() || p != text.data() + digits) return bad("the number is too large");
  const std::string_view unit = text.substr(digits);
  uint64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s") scale = 1000;
  else if (unit == "m") scale = 60 * 1000;
  else if (unit == "h") scale = 3600 * 1000;
  else if (unit.empty()) return bad("has no unit");
  else return bad("'" + std::string(unit) + "' is not a unit");
  if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / scale) return bad("is too long");
  return Duration(static_cast<int64_t>(n * scale));
}

Result<Strategy> ParseStrategy(std::string_view text) {
  if (text == "one_for_one") return Strategy::kOneForOne;
  if (text == "one_for_all") return Strategy::kOneForAll;
  if (text == "rest_for_one") return Strategy::kRestForOne;
  return Status::InvalidArgument("strategy '" + std::string(text) +
                                 "' is not one of: one_for_one, one_for_all, rest_for_one");
}

Result<RestartType> ParseRestartType(std::string_view text) {
  if (text == "permanent") return RestartType::kPermanent;
  if (text == "transient") return RestartType::kTransient;
  if (text == "temporary") return RestartType::kTemporary;
  return Status::InvalidArgument("restart '" + std::string(text) +
                                 "' is not one of: permanent, transient, temporary");
}

}  // namespace mq::supervisor
