// Linked into every test that calls the NATS client library: releases the
// library's global state once, after the last test (LeakSanitizer counts
// it as a leak otherwise).
#include <gtest/gtest.h>
#include <nats/nats.h>

namespace mq::test {
namespace {

class NatsLibrary : public ::testing::Environment {
 public:
  void TearDown() override { nats_Close(); }
};
const auto* const kNatsLibrary = ::testing::AddGlobalTestEnvironment(new NatsLibrary);

}  // namespace
}  // namespace mq::test
