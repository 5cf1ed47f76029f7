#include "nats_admin.h"

#include <nats/nats.h>

namespace mq::test {

bool DeleteConsumer(const std::string& nats_url, const std::string& consumer) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (natsConnection_ConnectTo(&nc, nats_url.c_str()) != NATS_OK) return false;
  bool ok = false;
  if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    ok = js_DeleteConsumer(js, "MQ", consumer.c_str(), nullptr, &jerr) == NATS_OK;
    jsCtx_Destroy(js);
  }
  natsConnection_Destroy(nc);
  return ok;
}

int64_t ConsumerAckFloor(const std::string& nats_url, const std::string& consumer) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  int64_t floor = -1;
  if (natsConnection_ConnectTo(&nc, nats_url.c_str()) != NATS_OK) return -1;
  if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    if (js_GetConsumerInfo(&ci, js, "MQ", consumer.c_str(), nullptr, &jerr) == NATS_OK) {
      floor = static_cast<int64_t>(ci->AckFloor.Stream);
      jsConsumerInfo_Destroy(ci);
    }
    jsCtx_Destroy(js);
  }
  natsConnection_Destroy(nc);
  return floor;
}

int64_t StreamCreated(const std::string& nats_url) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  int64_t created = 0;
  if (natsConnection_ConnectTo(&nc, nats_url.c_str()) != NATS_OK) return 0;
  if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK) {
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js, "MQ", nullptr, nullptr) == NATS_OK) {
      created = si->Created;
      jsStreamInfo_Destroy(si);
    }
    jsCtx_Destroy(js);
  }
  natsConnection_Destroy(nc);
  return created;
}

}  // namespace mq::test
