#include "damage.h"

#include <cstdio>

#include <sys/types.h>

namespace mqtool {

std::string DescribeDamage(const std::string& path, const mq::LogDamage& d) {
  std::string at = path + ": offset " + std::to_string(d.offset) + ": ";
  if (d.tail) return at + "torn tail of " + std::to_string(d.bytes) + " bytes (" + d.reason + ")";
  return at + std::to_string(d.bytes) + " damaged bytes (" + d.reason + "); intact messages follow at offset " +
         std::to_string(d.offset + d.bytes);
}

bool ReportSkippedDamage(const std::string& path, const mq::LogSummary& sum, std::string_view again) {
  if (!sum.complete) return false;  // stopped at --until before reaching it
  bool damaged = false;
  const pid_t holder = sum.damage.empty() ? 0 : mq::QueueLockHolder(path);
  for (const auto& d : sum.damage) {
    if (d.tail && holder != 0) {
      std::fprintf(stderr,
                   "mqtool: %s: offset %llu: the last %llu bytes do not form a complete message (%s); "
                   "pid %d holds the queue, so this is probably a write in progress. %.*s\n",
                   path.c_str(), static_cast<unsigned long long>(d.offset),
                   static_cast<unsigned long long>(d.bytes), d.reason.c_str(), static_cast<int>(holder),
                   static_cast<int>(again.size()), again.data());
      continue;
    }
    damaged = true;
    std::fprintf(stderr, "mqtool: %s: offset %llu: skipped %llu damaged bytes%s (%s). Run mqtool check %s\n",
                 path.c_str(), static_cast<unsigned long long>(d.offset),
                 static_cast<unsigned long long>(d.bytes), d.tail ? " at the end of the log" : "",
                 d.reason.c_str(), path.c_str());
  }
  return damaged;
}

}  // namespace mqtool
