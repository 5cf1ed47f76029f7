#include "nats_link.h"

#include "nats_options.h"

#include <chrono>
#include <thread>

namespace mq::bridge {

std::string NatsError(const char* what, natsStatus s, jsErrCode jerr) {
  std::string m = std::string(what) + ": " + natsStatus_GetText(s);
  if (jerr != 0) m += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') m += ": " + std::string(last);
  return m;
}

void NatsLink::Reset() {
  if (js != nullptr) jsCtx_Destroy(js);
  if (nc != nullptr) natsConnection_Destroy(nc);
  js = nullptr;
  nc = nullptr;
}

Status Connect(const BridgeConfig& c, const std::atomic<bool>& stop, jsPubAckHandler ack_handler, void* closure,
               NatsLink* link) {
  NatsOptions o;
  if (Status st = MakeNatsOptions(c, &o); !st.ok()) return st;
  natsStatus s = NATS_OK;
  auto wait = std::chrono::milliseconds(100);
  int closed_in_tls = 0;
  for (;;) {
    s = natsConnection_Connect(&link->nc, o.opts);
    if (s == NATS_OK) break;
    if (Status st = ConnectError(c, o, s, &closed_in_tls); !st.ok()) return st;
    if (stop.load()) return Status::Closed("stopped while connecting to NATS");
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(2000));
  }
  const int64_t max_payload = natsConnection_GetMaxPayload(link->nc);
  if (max_payload > 0 && static_cast<uint64_t>(max_payload) < c.max_message_size + 1024)
    return Status::InvalidArgument("bridge.max_message_size: " + std::to_string(c.max_message_size) +
                                   " bytes (plus 1 KiB of headers) is more than the server's max_payload (" +
                                   std::to_string(max_payload) + "); lower it or raise max_payload");
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = c.window;
  jo.PublishAsync.AckHandler = ack_handler;
  jo.PublishAsync.AckHandlerClosure = closure;
  jo.Wait = 5000;
  if ((s = natsConnection_JetStream(&link->js, link->nc, &jo)) != NATS_OK)
    return Status::IOError(NatsError("JetStream context", s), EIO);
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  for (;;) {
    s = js_GetStreamInfo(&si, link->js, c.stream.c_str(), nullptr, &jerr);
    if (s == NATS_OK) break;
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
      if (!c.create_stream)
        return Status::NotFound("stream '" + c.stream + "' does not exist on the server, and bridge.create_stream is "
                                "false: create it (subjects mq.>) or set create_stream = true");
      jsStreamConfig sc;
      jsStreamConfig_Init(&sc);
      sc.Name = c.stream.c_str();
      const char* subjects[] = {"mq.>"};
      sc.Subjects = subjects;
      sc.SubjectsLen = 1;
      sc.Storage = js_FileStorage;
      sc.Replicas = c.replicas;
      sc.Duplicates = static_cast<int64_t>(c.duplicate_window.count()) * 1000000;
      s = js_AddStream(&si, link->js, &sc, nullptr, &jerr);
      if (s == NATS_OK && si->Created != 0) break;
      if (s == NATS_OK) {
        // Two bridges creating the stream at once: the server (2.9.10) can
        // answer the second with a creation time of zero (1 of 200 races
        // here). It names the delivery record, so ask for the real one.
        jsStreamInfo_Destroy(si);
        si = nullptr;
        continue;
      }
      if (jerr == 10058 /* stream name in use: a racing bridge made it */) continue;
      return Status::IOError(NatsError(("cannot create stream " + c.stream).c_str(), s, jerr), EIO);
    }
    if (stop.load()) return Status::Closed("stopped while waiting for JetStream");
    if (natsConnection_IsClosed(link->nc))
      return Status::IOError(NatsError("the connection closed while waiting for JetStream", s, jerr), EIO);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // JetStream not ready yet
  }
  link->stream_created = si->Created;
  jsStreamInfo_Destroy(si);
  return Status::OK();
}

}  // namespace mq::bridge
