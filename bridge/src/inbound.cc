#include "inbound.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <thread>
#include <vector>

#include "nats_link.h"

namespace mq::bridge {

Inbound::~Inbound() { Detach(); }

Status Inbound::Attach(natsConnection* nc, jsCtx* js, int64_t stream_created) {
  if (c_.locals.empty()) return Status::OK();
  const std::string dir = c_.state + "/in";
  if (Status s = MakeDir(dir); !s.ok()) return s;
  if (routes_.empty() || stream_created != stream_created_) {
    routes_.clear();
    for (const auto& l : c_.locals) {
      auto r = std::make_unique<Route>();
      r->la = l;
      r->filter = "mq." + c_.node + "." + l.actor + ".>";
      // The node's length keeps two bridges' names apart ("B-x" + "y" and
      // "B" + "x-y"); a durable name may hold no '.'.
      r->durable = "mqbridge-" + std::to_string(c_.node.size()) + "-" + c_.node + "-" + l.actor;
      auto log = DeliveredLog::Open(dir, c_.stream + "-" + std::to_string(stream_created) + "." + l.actor + ".delivered");
      if (!log.ok()) return log.status();
      r->delivered = *std::move(log);
      routes_.push_back(std::move(r));
    }
    stream_created_ = stream_created;
  }
  nc_ = nc;
  js_ = js;
  // A server that is restarting is not an error: Step tries again.
  for (auto& r : routes_)
    if (Status s = ResetConsumer(*r); !s.ok()) NeedReset(*r, s.message());
  return Status::OK();
}

// nats.c 3.4.1 (Debian's) frees a subscription in natsSubscription_Destroy
// while its connection's read loop may still hold a pointer to it: the read
// loop looks the subscription up, lets go of the table's lock, then queues
// the message on it (nats-io/nats.c#637, fixed in 3.10 by #638). A pull
// response arriving while the inbound thread reset its consumer was written
// into freed memory: glibc's "corrupted top size" and "double free" aborts.
// So a subscription is destroyed only when no message can reach it:
//  - Unsubscribe takes it out of the connection's table (nothing new is
//    handed to it; since the library made the consumer, it deletes it too);
//  - a flush round trip: the read loop handles the PONG only after every
//    message before it, so it has left any it was giving to this one;
//  - then Destroy frees it. If the flush fails, the subscription waits in
//    retired_ until the connection is closed (Detach).
void Inbound::RetireSubscription(Route& r) {
  if (r.sub == nullptr) return;
  natsSubscription* sub = r.sub;
  r.sub = nullptr;
  (void)natsSubscription_Unsubscribe(sub);
  if (nc_ != nullptr && natsConnection_FlushTimeout(nc_, 2000) == NATS_OK) natsSubscription_Destroy(sub);
  else r.retired.push_back(sub);
}

Status Inbound::ResetConsumer(Route& r) {
  Drain(r);          // what the actor confirmed is recorded (and acked if the link holds)
  r.sender.reset();  // a fresh sender: no answer of the old round is awaited
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsConsumerInfo* ci = nullptr;
  // Delivered and acked up to here: the record's floor (which a lost
  // consumer does not take with it), or the consumer's ack floor.
  uint64_t floor = r.delivered->floor();
  // The ack floor first: retiring the subscription deletes the consumer.
  natsStatus s = js_GetConsumerInfo(&ci, js_, c_.stream.c_str(), r.durable.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    floor = std::max<uint64_t>(floor, ci->AckFloor.Stream);
    jsConsumerInfo_Destroy(ci);
    RetireSubscription(r);
    jerr = static_cast<jsErrCode>(0);
    s = js_DeleteConsumer(js_, c_.stream.c_str(), r.durable.c_str(), nullptr, &jerr);
    if (s != NATS_OK && !(s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr))
      return Status::IOError(NatsError(("delete consumer " + r.durable).c_str(), s, jerr), EIO);
  } else if (!(s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr)) {
    return Status::IOError(NatsError(("consumer " + r.durable).c_str(), s, jerr), EIO);
  } else {
    RetireSubscription(r);
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = c_.stream.c_str();
  so.Config.Durable = r.durable.c_str();
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = static_cast<int64_t>(c_.ack_wait.count()) * 1000000;
  so.Config.MaxAckPending = 1024;
  so.Config.FilterSubject = r.filter.c_str();
  if (floor > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = floor + 1;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  jerr = static_cast<jsErrCode>(0);
  s = js_PullSubscribe(&r.sub, js_, r.filter.c_str(), r.durable.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) {
    r.sub = nullptr;
    return Status::IOError(NatsError(("pull consumer " + r.durable).c_str(), s, jerr), EIO);
  }
  r.need_reset = false;  // the backoff stays up until a batch is delivered (Step)
  r.failed = false;      // drained above: the replay starts from the ack floor
  return Status::OK();
}

void Inbound::SetError(Route& r, const std::string& why) {
  {
    std::lock_guard<std::mutex> l(r.mu);
    r.last_error = why;
  }
  if (r.printed != why) {
    std::fprintf(stderr, "mqbridge: inbound %s: %s\n", r.la.actor.c_str(), why.c_str());
    r.printed = why;
  }
}

void Inbound::NeedReset(Route& r, const std::string& why) {
  SetError(r, why);
  if (!r.need_reset) {
    r.reset_at = std::chrono::steady_clock::now() + r.reset_backoff;
    r.reset_backoff = std::min(r.reset_backoff * 2, std::chrono::milliseconds(5000));
  }
  r.need_reset = true;
}

void Inbound::Detach() {
  // The connection is closed (its read loop joined or ended): safe to free.
  for (auto& r : routes_) {
    if (r->sub != nullptr) natsSubscription_Destroy(r->sub);
    r->sub = nullptr;
    for (natsSubscription* sub : r->retired) natsSubscription_Destroy(sub);
    r->retired.clear();
    r->window.clear();  // unacked: redelivered on the next connection
    r->answers.clear();
    r->in_flight = 0;
    r->sender.reset();
  }
  nc_ = nullptr;
  js_ = nullptr;
}

ConfirmedSender* Inbound::SenderFor(Route& r) {
  if (r.sender) return r.sender.get();
  ConfirmedSenderOptions o;
  o.window = std::max<size_t>(256, size_t{c_.inbound_window} * kInboundBatch);
  o.reply_timeout = std::chrono::milliseconds(5000);
  auto s = ConfirmedSender::Open(r.la.socket, o);
  if (!s.ok()) {
    SetError(r, "actor " + r.la.actor + " (" + r.la.socket + "): " + s.status().message() +
                    "; its messages wait in the stream");
    return nullptr;
  }
  r.sender = *std::move(s);
  return r.sender.get();
}

void Inbound::MaybeCompact(Route& r) {
  if (r.delivered->size() <= c_.record_compact_above) return;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsConsumerInfo* ci = nullptr;
  if (js_GetConsumerInfo(&ci, js_, c_.stream.c_str(), r.durable.c_str(), nullptr, &jerr) != NATS_OK) return;
  const uint64_t floor = ci->AckFloor.Stream;
  jsConsumerInfo_Destroy(ci);
  if (Status s = r.delivered->Compact(floor); !s.ok()) SetError(r, s.message());
}

void Inbound::Snapshot(std::vector<RouteStatus>* out) {
  for (auto& r : routes_) {
    RouteStatus st;
    st.kind = "in";
    st.name = r->la.actor;
    st.in_flight = r->in_flight.load();
    st.published = r->delivered_n.load();
    st.acked = r->acked.load();
    st.redelivered = r->redelivered.load();
    st.deduplicated = r->deduplicated.load();
    std::lock_guard<std::mutex> l(r->mu);
    st.last_error = r->last_error;
    out->push_back(std::move(st));
  }
}

void Inbound::Collect(Route& r, std::chrono::milliseconds wait) {
  if (!r.sender || r.sender->in_flight() == 0) return;
  std::vector<Confirmation> cs;
  (void)r.sender->Collect(wait, &cs);  // kTimedOut: none yet
  for (const Confirmation& c : cs) {
    r.answers[c.ticket] = c.status.ok();
    if (!c.status.ok()) {
      SetError(r, c.status.message());
      r.failed = true;
    }
  }
}

void Inbound::Drain(Route& r) {
  if (r.window.empty()) return;
  if (r.sender && r.sender->in_flight() > 0) {
    std::vector<Confirmation> cs;
    (void)r.sender->Flush(&cs);
    for (const Confirmation& c : cs) {
      r.answers[c.ticket] = c.status.ok();
      if (!c.status.ok()) SetError(r, c.status.message());
    }
  }
  Settle(r, /*all=*/true);
}

void Inbound::Settle(Route& r, bool all) {
  // The oldest batches whose every message is answered (or all of them).
  size_t ready = 0;
  std::vector<uint64_t> record;
  for (; ready < r.window.size(); ++ready) {
    const Batch& b = r.window[ready];
    if (!all && !std::all_of(b.sent.begin(), b.sent.end(), [&](const Pending& p) { return r.answers.count(p.ticket); }))
      break;
    for (const Pending& p : b.sent)
      if (auto it = r.answers.find(p.ticket); it != r.answers.end() && it->second) record.push_back(p.stream_seq);
  }
  if (ready == 0) return;
  // Durable before the ack: a redelivery after this is recognised.
  bool recorded = true;
  if (Status rs = r.delivered->Record(record); !rs.ok()) {
    SetError(r, rs.message());
    recorded = false;  // not acked: JetStream delivers them again
  }
  for (size_t k = 0; k < ready; ++k) {
    Batch& b = r.window.front();
    for (const Pending& p : b.sent) {
      auto it = r.answers.find(p.ticket);
      const bool confirmed = recorded && it != r.answers.end() && it->second;
      if (it != r.answers.end()) r.answers.erase(it);
      r.in_flight--;
      if (!confirmed) {
        r.failed = true;
        continue;
      }
      if (p.stream_seq < r.last_delivered)
        std::fprintf(stderr, "mqbridge: inbound %s: stream seq %llu delivered after %llu\n", r.la.actor.c_str(),
                     static_cast<unsigned long long>(p.stream_seq), static_cast<unsigned long long>(r.last_delivered));
      r.last_delivered = p.stream_seq;
      if (natsMsg_Ack(p.msg, nullptr) == NATS_OK) r.acked++;
      r.delivered_n++, stats_->delivered++;
    }
    r.window.pop_front();
  }
  if (r.window.empty()) r.answers.clear();  // tickets of a sender that went away
}

void Inbound::Step(size_t i) {
  if (js_ == nullptr) return;
  Route& r = *routes_[i];
  if (r.need_reset || r.sub == nullptr) {
    const auto now = std::chrono::steady_clock::now();
    if (now < r.reset_at) {
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(r.reset_at - now, std::chrono::milliseconds(50)));
      return;
    }
    if (Status s = ResetConsumer(r); !s.ok()) {
      SetError(r, s.message());
      r.reset_backoff = std::min(r.reset_backoff * 2, std::chrono::milliseconds(5000));
      r.reset_at = now + r.reset_backoff;
      return;
    }
  }
  // What the actor confirmed since the last step: recorded and acked.
  Collect(r, std::chrono::milliseconds(0));
  Settle(r, false);
  // The record is compacted while nothing is in flight, so that a kill
  // during its compaction finds every delivery recorded or not yet sent.
  if (r.window.empty()) MaybeCompact(r);
  bool fetched = false;
  if (!r.failed && r.window.size() < c_.inbound_window) {
    natsMsgList list{};
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus fs;
    if (r.window.empty()) {
      fs = natsSubscription_Fetch(&list, r.sub, kInboundBatch, 100, &jerr);
    } else {
      // Batches in flight: take what the stream has now, without waiting.
      jsFetchRequest fr;
      jsFetchRequest_Init(&fr);
      fr.Batch = kInboundBatch;
      fr.NoWait = true;
      fr.Expires = int64_t{100} * 1000000;
      fs = natsSubscription_FetchRequest(&list, r.sub, &fr);
    }
    if (fs != NATS_OK) {
      natsMsgList_Destroy(&list);
      if (fs != NATS_TIMEOUT && fs != NATS_NOT_FOUND) {
        Drain(r);
        NeedReset(r, NatsError("fetch", fs, jerr));
        return;
      }
    } else {
      r.window.emplace_back();
      Batch& b = r.window.back();
      b.list = list;
      fetched = list.Count > 0;
      for (int k = 0; k < list.Count; ++k) {
        natsMsg* m = list.Msgs[k];
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, m) != NATS_OK) continue;
        const uint64_t seq = meta->Sequence.Stream;
        if (meta->NumDelivered > 1) r.redelivered++, stats_->redelivered++;
        jsMsgMetaData_Destroy(meta);
        if (r.delivered->Contains(seq)) {  // delivered before a crash or a lost ack
          r.deduplicated++, stats_->deduplicated++;
          if (natsMsg_Ack(m, nullptr) == NATS_OK) r.acked++;
          continue;
        }
        if (r.failed) continue;  // a send failed: later ones wait too (order)
        ConfirmedSender* snd = SenderFor(r);
        if (snd == nullptr) {
          r.failed = true;
          continue;
        }
        auto t = snd->SendAsync(std::string_view(natsMsg_GetData(m), static_cast<size_t>(natsMsg_GetDataLength(m))));
        if (!t.ok()) {
          SetError(r, t.status().message());
          r.failed = true;
          continue;
        }
        b.sent.push_back(Pending{m, seq, *t});
        r.in_flight++;
      }
      if (b.sent.empty()) r.window.pop_back();  // nothing awaits the actor: freed now
    }
  }
  // The window is full, or the stream had nothing more: wait a little for
  // the actor's confirmations.
  if (!fetched && !r.window.empty() && !r.failed) {
    Collect(r, std::chrono::milliseconds(50));
    Settle(r, false);
  }
  if (r.failed) {
    // Not delivered: again, in order, from the ack floor (after a backoff),
    // once what is in flight is settled.
    Drain(r);
    std::string why;
    {
      std::lock_guard<std::mutex> l(r.mu);
      why = r.last_error;
    }
    NeedReset(r, why);
  } else if (fetched) {
    r.reset_backoff = std::chrono::milliseconds(100);
  }
  // A window that never empties (steady traffic) must not let the record
  // grow without bound: past twice the threshold it is compacted anyway.
  // (An empty window is compacted at the next step's start.)
  if (r.delivered->size() > 2 * c_.record_compact_above) MaybeCompact(r);
}

}  // namespace mq::bridge
