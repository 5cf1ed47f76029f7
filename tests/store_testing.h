// Small helpers shared by the store's tests.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "mq/store.h"

namespace mq::test {

// Every pending message of a store, by seq, as a scan from the front sees it.
inline std::map<uint64_t, std::string> PendingMessages(Store* s) {
  std::map<uint64_t, std::string> out;
  EXPECT_TRUE(s->ScanPending(0, [&](const MessageView& v) {
                 out.emplace(v.seq, std::string(v.payload));
                 return true;
               }).ok());
  return out;
}

}  // namespace mq::test
