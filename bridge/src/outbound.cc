#include "outbound.h"

#include <cstdio>
#include <cstring>

#include "delivered_log.h"
#include "nats_link.h"

namespace mq::bridge {
namespace {
constexpr const char* kIdHeader = "Mq-Id";  // <origin node>/<proxy log id>/<seq>, as Nats-Msg-Id

std::string MsgId(const std::string& node, uint64_t log_id, uint64_t seq) {
  return node + "/" + std::to_string(log_id) + "/" + std::to_string(seq);
}

bool ParseId(const char* id, std::string* node, uint64_t* log_id, uint64_t* seq) {
  const char* a = std::strchr(id, '/');
  if (a == nullptr) return false;
  char* end = nullptr;
  *log_id = std::strtoull(a + 1, &end, 10);
  if (end == nullptr || *end != '/') return false;
  *seq = std::strtoull(end + 1, &end, 10);
  if (*end != '\0') return false;
  node->assign(id, static_cast<size_t>(a - id));
  return true;
}
}  // namespace

Status Outbound::Open() {
  if (c_.remotes.empty()) return Status::OK();
  const std::string dir = c_.state + "/out";
  if (Status s = MakeDir(dir); !s.ok()) return s;
  // With confirm = "upstream" each proxy has threads of its own: a shared
  // runtime's one confirmer would hold every proxy's answers behind the one
  // waiting for its PubAck.
  if (c_.remotes.size() > 1 && !c_.confirm_upstream) {
    auto rt = Runtime::Create();
    if (!rt.ok()) return rt.status();
    runtime_ = *rt;
  }
  routes_.resize(c_.remotes.size());
  acked_through_.assign(c_.remotes.size(), 0);
  for (size_t i = 0; i < c_.remotes.size(); ++i) {
    Route& r = routes_[i];
    r.ra = c_.remotes[i];
    r.subject = "mq." + r.ra.node + "." + r.ra.actor + "." + c_.node;
    MailboxOptions o;
    o.socket_path = r.ra.socket;
    o.queue_path = dir + "/" + r.ra.node + "." + r.ra.actor + ".q";
    o.max_message_size = c_.max_message_size;
    o.runtime = runtime_;
    o.store.auto_compact = true;
    if (c_.confirm_upstream) o.before_confirm = [this, i](uint64_t seq) { return WaitUpstream(i, seq); };
    o.on_reject = [](const Rejection& j) { std::fprintf(stderr, "mqbridge: %s\n", j.describe.c_str()); };
    auto mb = Mailbox::Open(o);
    if (!mb.ok()) return mb.status();
    r.mb = *std::move(mb);
    r.log_id = r.mb->store()->Stats().log_id;
    by_subject_[r.subject] = i;
  }
  return Status::OK();
}

Outbound::~Outbound() {
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    closing_ = true;
  }
  gate_cv_.notify_all();
  routes_.clear();
}

bool Outbound::WaitUpstream(size_t i, uint64_t seq) {
  std::unique_lock<std::mutex> l(gate_mu_);
  gate_cv_.wait(l, [&] { return acked_through_[i] >= seq || closing_; });
  return acked_through_[i] >= seq;
}

void Outbound::AckedThrough(size_t i, uint64_t seq) {
  if (!c_.confirm_upstream) return;
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    if (seq <= acked_through_[i]) return;
    acked_through_[i] = seq;
  }
  gate_cv_.notify_all();
}

void Outbound::OnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* self = static_cast<Outbound*>(closure);
  Event e{natsMsg_GetSubject(msg), 0, pa != nullptr, pa != nullptr && pa->Duplicate, ""};
  const char* id = nullptr;
  std::string node;
  uint64_t log_id = 0;
  if (natsMsgHeader_Get(msg, kIdHeader, &id) == NATS_OK && ParseId(id, &node, &log_id, &e.seq)) {
    if (pae != nullptr) e.error = NatsError("publish", pae->Err, pae->ErrCode) + (pae->ErrText ? std::string(": ") + pae->ErrText : "");
    std::lock_guard<std::mutex> l(self->mu_);
    self->events_.push_back(std::move(e));
  }
  natsMsg_Destroy(msg);
}

void Outbound::Fail(Route& r, const std::string& why) {
  r.failed = true;
  r.last_error = why;
}

// Where the stream is for this route: the last message on the subject names
// the last local seq it holds. Everything up to it is consumed here; the
// next publish expects that message to still be the subject's last
// (ExpectLastSubjectSeq), so that a second writer, or a stream that lost
// messages, is an error instead of a silent gap.
Status Outbound::Reconcile(jsCtx* js, Route& r) {
  natsMsg* last = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetLastMsg(&last, js, c_.stream.c_str(), r.subject.c_str(), nullptr, &jerr);
  uint64_t upto = 0;
  r.expect_subject_seq = 0;
  if (s == NATS_OK) {
    r.expect_subject_seq = natsMsg_GetSequence(last);
    const char* id = nullptr;
    std::string node;
    uint64_t log_id = 0, seq = 0;
    if (natsMsgHeader_Get(last, kIdHeader, &id) == NATS_OK && ParseId(id, &node, &log_id, &seq) && node == c_.node &&
        log_id == r.log_id)
      upto = seq;
    natsMsg_Destroy(last);
  } else if (!(s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)) {
    return Status::IOError(NatsError(("last message on " + r.subject).c_str(), s, jerr), EIO);
  }
  Store* st = r.mb->store();
  std::vector<uint64_t> held;
  if (Status ss = st->ScanPending(0, [&](const MessageView& m) {
        if (m.seq > upto) return false;
        held.push_back(m.seq);
        return true;
      });
      !ss.ok())
    return ss;
  for (uint64_t seq : held)
    if (Status cs = st->Consume(seq); !cs.ok() && cs.code() != Status::Code::kNotFound) return cs;
  AckedThrough(static_cast<size_t>(&r - routes_.data()), upto);
  r.next = upto + 1;
  r.reconcile = false;
  r.probe = true;
  return Status::OK();
}

void Outbound::Publish(jsCtx* js, Route& r, size_t budget) {
  struct Out {
    uint64_t seq;
    std::string payload;
  };
  std::vector<Out> outs;
  Status ss = r.mb->store()->ScanPending(r.next, [&](const MessageView& m) {
    if (outs.size() >= budget) return false;
    outs.push_back({m.seq, std::string(m.payload)});
    return true;
  });
  if (!ss.ok()) return Fail(r, ss.message());
  for (const Out& o : outs) {
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, r.subject.c_str(), nullptr, o.payload.data(), static_cast<int>(o.payload.size())) != NATS_OK)
      return Fail(r, "natsMsg_Create failed");
    const std::string id = MsgId(c_.node, r.log_id, o.seq);
    natsMsgHeader_Set(msg, kIdHeader, id.c_str());
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id.c_str();
    if (r.expect_subject_seq != 0) po.ExpectLastSubjectSeq = r.expect_subject_seq;
    const natsStatus s = js_PublishMsgAsync(js, &msg, &po);
    if (s != NATS_OK) {
      natsMsg_Destroy(msg);
      return Fail(r, NatsError(("publish to " + r.subject).c_str(), s));
    }
    r.expect_subject_seq = 0;  // only the first after reconciling: later ones are pipelined behind it
    if (total_in_flight_ == 0) last_ack_ = std::chrono::steady_clock::now();
    r.in_flight[o.seq] = Sent::kWaiting;
    ++r.published;
    ++total_in_flight_;
    r.next = o.seq + 1;
  }
}

void Outbound::Step(jsCtx* js) {
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    events.swap(events_);
  }
  const auto now = std::chrono::steady_clock::now();
  if (!events.empty()) last_ack_ = now;
  for (Event& e : events) {
    auto it = by_subject_.find(e.subject);
    if (it == by_subject_.end()) continue;
    Route& r = routes_[it->second];
    auto f = r.in_flight.find(e.seq);
    if (f == r.in_flight.end() || f->second != Sent::kWaiting) continue;
    if (e.ok) {
      f->second = Sent::kAcked;
      r.probe = false;
      stats_->published++;
      ++r.acked;
      if (e.duplicate) stats_->pub_duplicates++, ++r.duplicates;
    } else {
      f->second = Sent::kFailed;
      Fail(r, e.error);
      // The subject's last message is not what we expected: another writer,
      // or the stream lost messages; ask the stream again.
      if (e.error.find("10071") != std::string::npos) r.reconcile = true;
    }
  }
  // No PubAck for publish_timeout: the server or the connection lost them.
  // Take them back from the client (their late acks are then dropped) and
  // publish them again, with the same Msg-Ids.
  if (total_in_flight_ > 0 && now - last_ack_ > c_.publish_timeout) {
    natsMsgList pending;
    if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK) natsMsgList_Destroy(&pending);
    for (Route& r : routes_)
      for (auto& [seq, st] : r.in_flight)
        if (st == Sent::kWaiting) st = Sent::kFailed, Fail(r, "no PubAck within publish_timeout_ms");
    last_ack_ = now;
  }
  for (Route& r : routes_) {
    // Consume the acked prefix, in order: a message is consumed here only
    // once the stream holds it and every earlier one.
    while (!r.in_flight.empty() && r.in_flight.begin()->second == Sent::kAcked) {
      const uint64_t seq = r.in_flight.begin()->first;
      if (Status cs = r.mb->store()->Consume(seq); !cs.ok() && cs.code() != Status::Code::kNotFound)
        r.last_error = cs.message();
      r.in_flight.erase(r.in_flight.begin());
      --total_in_flight_;
      AckedThrough(static_cast<size_t>(&r - routes_.data()), seq);
    }
    if (r.failed) {
      bool waiting = false;
      for (auto& [seq, st] : r.in_flight) waiting = waiting || st == Sent::kWaiting;
      if (waiting) continue;
      // Everything answered: publish again from the first unacked, with the
      // same Msg-Ids (the server's duplicate window drops what it has).
      if (!r.in_flight.empty()) {
        r.next = r.in_flight.begin()->first;
        std::fprintf(stderr, "mqbridge: %s: publishing again from seq %llu (%zu in flight) after: %s\n", r.subject.c_str(),
                     static_cast<unsigned long long>(r.next), r.in_flight.size(), r.last_error.c_str());
        stats_->republished += r.in_flight.size();
        r.republished += r.in_flight.size();
        total_in_flight_ -= r.in_flight.size();
        r.in_flight.clear();
      }
      r.failed = false;
      r.probe = true;
      r.retry_at = now + std::chrono::milliseconds(100);
    }
    if (now < r.retry_at) continue;
    if (r.reconcile) {
      if (!r.in_flight.empty()) continue;
      if (Status s = Reconcile(js, r); !s.ok()) {
        r.last_error = s.message();
        r.retry_at = now + std::chrono::milliseconds(200);
        continue;
      }
    }
    if (r.probe) {
      if (r.in_flight.empty() && total_in_flight_ < c_.window) Publish(js, r, 1);
    } else if (total_in_flight_ < c_.window) {
      Publish(js, r, c_.window - total_in_flight_);
    }
  }
}

void Outbound::LinkLost() {
  {
    std::lock_guard<std::mutex> l(mu_);
    events_.clear();
  }
  for (Route& r : routes_) {
    r.in_flight.clear();
    r.failed = false;
    r.reconcile = true;
    r.retry_at = {};
  }
  total_in_flight_ = 0;
}

void Outbound::Snapshot(std::vector<RouteStatus>* out) const {
  for (const Route& r : routes_) {
    RouteStatus st;
    st.kind = "out";
    st.name = r.subject;
    st.in_flight = r.in_flight.size();
    st.published = r.published;
    st.acked = r.acked;
    st.redelivered = r.republished;
    st.deduplicated = r.duplicates;
    st.last_error = r.last_error;
    out->push_back(std::move(st));
  }
}

void Outbound::Close(jsCtx* js, std::chrono::milliseconds for_at_most) {
  const auto deadline = std::chrono::steady_clock::now() + for_at_most;
  while (js != nullptr && total_in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 50;
    (void)js_PublishAsyncComplete(js, &po);
    for (Route& r : routes_) r.retry_at = std::chrono::steady_clock::time_point::max();  // publish nothing new
    Step(js);
  }
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    closing_ = true;  // the confirmers waiting upstream let go (Mailbox::Close waits for them)
  }
  gate_cv_.notify_all();
  for (Route& r : routes_)
    if (r.mb) (void)r.mb->Close();
}

}  // namespace mq::bridge
