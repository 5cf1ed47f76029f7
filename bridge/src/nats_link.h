// The bridge's connection to NATS: connect with retries, the JetStream
// context, the stream (created when missing, if the config says so).
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <string>

#include "mq/bridge.h"

namespace mq::bridge {

std::string NatsError(const char* what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0));

struct NatsLink {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  int64_t stream_created = 0;  // the stream's creation time (ns): names its delivery record
  ~NatsLink() { Reset(); }
  void Reset();  // destroys the context and the connection
  // Closes the connection and joins its read loop: afterwards nothing of the
  // client's delivers to a subscription (Inbound::Detach may free them).
  void Close() {
    if (nc != nullptr) natsConnection_Close(nc);
  }
  bool closed() const { return nc == nullptr || natsConnection_IsClosed(nc); }
};

// Connects, retrying with backoff (100 ms to 2 s) until connected or `stop`;
// then makes the JetStream context (async publish acks go to ack_handler)
// and checks or creates the stream. Errors: kClosed (stopped), bad
// credentials, a missing stream with create_stream = false, a server whose
// max_payload is below max_message_size.
Status Connect(const BridgeConfig& c, const std::atomic<bool>& stop, jsPubAckHandler ack_handler, void* closure,
               NatsLink* link);

}  // namespace mq::bridge
