// What the bridge's tests ask of a JetStream server directly, as an operator
// would with the nats CLI (the stream and consumer names of docs/bridge.md).
#pragma once

#include <cstdint>
#include <string>

namespace mq::test {

// Deletes the durable consumer `consumer` of stream MQ, as a server that lost
// its consumer state would: a restarted bridge then replays from its
// delivery record's floor. False if the server or the consumer is not there.
bool DeleteConsumer(const std::string& nats_url, const std::string& consumer = "mqbridge-1-B-orders");

// The consumer's ack floor (the stream sequence up to which every message
// was acked); -1 if the server or the consumer is not there.
int64_t ConsumerAckFloor(const std::string& nats_url, const std::string& consumer = "mqbridge-1-B-orders");

// Stream MQ's creation time (which names a delivery record file); 0 if
// the server or the stream is not there.
int64_t StreamCreated(const std::string& nats_url);

}  // namespace mq::test
