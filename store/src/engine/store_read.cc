// Lookups and scans through the index (docs/design.md, "Reading").
#include "util/coding.h"
#include "util/crc32c.h"
#include "format/log_format.h"
#include "engine/store_impl.h"

namespace mq {

Status StoreImpl::ReadAt(uint64_t seq, const Loc& loc, MessageView* v, ReadState* state, bool verify) {
  const size_t head = loc.framed ? log::kMetaRecordSize : 0;
  const uint64_t start = loc.msg_offset - head;
  const size_t n = head + log::kRecordHeaderSize + loc.size;
  const char* p = nullptr;
  Status s = cache_.Read(file_.get(), end_, start, n, &p);
  if (!s.ok()) {
    if (!s.IsCorruption()) return s;
    ReportCorruption(start, n, s.message());
    hidden_.insert(seq);
    *state = ReadState::kDamaged;
    return Status::OK();
  }
  const char* msg = p + head;
  std::string why;
  if (static_cast<uint32_t>(DecodeInt32(msg + 4)) != loc.size) {
    why = "message size differs from the index";
  } else if (loc.framed) {
    if (DecodeInt32(p) != log::kMetaKind || DecodeFixed64(p + log::kMetaSeqOffset) != seq)
      why = "meta record does not match the index";
    else if (verify &&
             log::FramedCrc(p, msg + 4, loc.size) != crc32c::Unmask(DecodeFixed32(p + log::kMetaCrcOffset)))
      why = "checksum mismatch in framed message";
  }
  if (!why.empty()) {
    ReportCorruption(start, n, "message " + std::to_string(seq) + ": " + why +
                                   "; it is not delivered. Run `mqtool check` on the queue");
    hidden_.insert(seq);
    *state = ReadState::kDamaged;
    return Status::OK();
  }
  if (DecodeInt32(msg) == log::kConsumed) {
    RecordConsumed(seq, loc);
    *state = ReadState::kConsumed;
    return Status::OK();
  }
  v->seq = seq;
  v->offset = loc.msg_offset;
  v->payload = std::string_view(msg + log::kRecordHeaderSize, loc.size);
  *state = ReadState::kPending;
  return Status::OK();
}

namespace {
void Fill(const MessageView& v, Message* m) {
  m->seq = v.seq;
  m->offset = v.offset;
  m->payload.assign(v.payload);
}
}  // namespace

Status StoreImpl::Get(uint64_t seq, Message* m) {
  MutexLock l(&mu_);
  if (closed_) return CheckUsable();
  if (Hidden(seq) && taken_.count(seq) == 0)
    return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  Loc loc;
  IndexTail::Entry* tail = nullptr;
  MQ_RETURN_IF_ERROR(Locate(seq, &loc, &tail));
  MessageView v;
  ReadState state = ReadState::kPending;
  MQ_RETURN_IF_ERROR(ReadAt(seq, loc, &v, &state));
  if (state == ReadState::kConsumed) return Status::NotFound(path_ + ": message " + std::to_string(seq) + " is not pending");
  if (state == ReadState::kDamaged)
    return Status::Corruption(path_ + ": message " + std::to_string(seq) + " at offset " +
                              std::to_string(loc.msg_offset) + " is damaged. Run `mqtool check` on the queue");
  Fill(v, m);
  return Status::OK();
}

Status StoreImpl::FirstPending(Message* m) {
  MutexLock l(&mu_);
  return FirstPendingLocked(m);
}

Status StoreImpl::FirstPendingLocked(Message* m) {
  bool found = false;
  MQ_RETURN_IF_ERROR(ScanPendingLocked(0, [&](const MessageView& v) {
    Fill(v, m);
    found = true;
    return false;
  }));
  if (!found) return Status::NotFound(path_ + ": no pending message");
  return Status::OK();
}

namespace {
// The meta record for `seq` at p, followed by a pending message record: the
// checks PeekPending and NextInLog both make before they trust the bytes.
__attribute__((always_inline)) inline bool MetaThenPending(const char* p, uint64_t seq) {
  return DecodeInt32(p) == log::kMetaKind && DecodeFixed32(p + 4) == log::kMetaPayloadSize &&
         DecodeFixed64(p + log::kMetaSeqOffset) == seq && DecodeInt32(p + log::kMetaRecordSize) == log::kPending;
}
}  // namespace

// Forced inline: it runs for every LMDB entry and tail entry a walk visits.
__attribute__((always_inline)) inline const char* StoreImpl::PeekPending(uint64_t seq, const Loc& loc,
                                                                        ReadCache::Span* span) {
  const size_t head = loc.framed ? log::kMetaRecordSize : 0;
  const uint64_t start = loc.msg_offset - head;
  const size_t n = head + log::kRecordHeaderSize + loc.size;
  const char* p = span->At(start, n, cache_.epoch());
  if (p == nullptr && (p = cache_.FindSpan(end_, start, n, span)) == nullptr) return nullptr;
  if (loc.framed ? !MetaThenPending(p, seq) : DecodeInt32(p) != log::kPending) return nullptr;
  const char* msg = p + head;
  return DecodeFixed32(msg + 4) == loc.size ? msg : nullptr;
}

// Not inlined: RunThroughLog takes this step only where a run leaves its
// span or ends, not once per message.
const char* StoreImpl::NextInLog(uint64_t seq, Loc* loc, ReadCache::Span* span) {
  if (!loc->framed) return nullptr;
  uint64_t at = loc->msg_offset + log::kRecordHeaderSize + loc->size;  // just past message seq
  constexpr size_t kHeads = log::kMetaRecordSize + log::kRecordHeaderSize;
  const char* p = span->At(at, kHeads, cache_.epoch());
  if (p == nullptr) {
    if (at + kHeads > end_ || !cache_.ReadSpan(file_.get(), end_, at, kHeads, span, &p).ok()) return nullptr;
  }
  if (DecodeInt32(p) == log::kSyncKind && DecodeFixed32(p + 4) == log::kSyncPayloadSize) {
    // A sync mark starts a batch appended after a sync: the run goes on past it.
    at += log::kSyncRecordSize;
    p = span->At(at, kHeads, cache_.epoch());
  }
  if (p == nullptr) {
    if (at + kHeads > end_ || !cache_.ReadSpan(file_.get(), end_, at, kHeads, span, &p).ok()) return nullptr;
  }
  if (!MetaThenPending(p, seq + 1)) return nullptr;
  const char* msg = p + log::kMetaRecordSize;
  const uint32_t size = DecodeFixed32(msg + 4);
  if (size > log::kMaxPayload || at + kHeads + size > end_) return nullptr;
  if (span->At(at, kHeads + size, cache_.epoch()) == nullptr) {
    // The record runs past the window: read it whole, and check again what
    // was checked in the bytes read before.
    if (!cache_.ReadSpan(file_.get(), end_, at, kHeads + size, span, &p).ok()) return nullptr;
    msg = p + log::kMetaRecordSize;
    if (!MetaThenPending(p, seq + 1) || DecodeFixed32(msg + 4) != size) return nullptr;
  }
  loc->msg_offset = at + log::kMetaRecordSize;  // field by field: a copy of a whole
  loc->size = size;                              // Loc just written stalled the walk
  loc->key_truncated = false;
  return msg;
}

template <typename Visit>
__attribute__((always_inline)) inline bool StoreImpl::RunThroughLog(uint64_t* seq_io, Loc* loc, ReadCache::Span* span,
                                                                    uint64_t stop, Visit& visit) {
  if (!loc->framed) return false;
  constexpr size_t kHeads = log::kMetaRecordSize + log::kRecordHeaderSize;
  uint64_t seq = *seq_io;
  bool stopped = false;
  for (;;) {
    // The records within the span's bytes, every bound in a register: most
    // of a scan's messages pass here.
    const uint64_t epoch = span->epoch, off0 = span->off;
    const uint64_t at = loc->msg_offset + log::kRecordHeaderSize + loc->size;  // just past message seq
    if (epoch == cache_.epoch() && at >= off0) {
      const char* const base = span->base;
      const size_t len = span->len;
      size_t pos = static_cast<size_t>(at - off0);
      while (seq + 1 < stop && !Hidden(seq + 1) && pos + kHeads <= len && MetaThenPending(base + pos, seq + 1)) {
        const char* msg = base + pos + log::kMetaRecordSize;
        const uint32_t size = DecodeFixed32(msg + 4);
        // Runs past the span (the step below reads it), or a size no record
        // has (the step below refuses it, as it refuses it anywhere).
        if (size > len - pos - kHeads || size > log::kMaxPayload) break;
        ++seq;
        loc->msg_offset = off0 + pos + log::kMetaRecordSize;
        loc->size = size;
        loc->key_truncated = false;
        if (visit(seq, *loc, msg)) {
          stopped = true;
          break;
        }
        if (cache_.epoch() != epoch) break;  // the visit read elsewhere
        pos += kHeads + size;
      }
      if (stopped) break;
    }
    // One step that may read past the span (or finds the run's end).
    const char* rec = nullptr;
    if (seq + 1 >= stop || Hidden(seq + 1) || (rec = NextInLog(seq, loc, span)) == nullptr) break;
    ++seq;
    if (visit(seq, *loc, rec)) {
      stopped = true;
      break;
    }
  }
  *seq_io = seq;
  return stopped;
}

template <typename Visit>
Status StoreImpl::Walk(uint64_t start, Visit&& visit) {
  // 1. The messages LMDB has, all older than the tail's. Where the log holds
  // them back to back (the common case: appended in a batch, none consumed
  // in between), the walk reads them from the log and steps the cursor only
  // where that run ends; what is then visited is what LMDB lists, in order.
  // One span for the whole walk: the read cache knows where the walk began.
  ReadCache::Span span;
  const uint64_t tail_front = tail_.Front();  // LMDB may hold more (a flush in flight): not visited there
  if (start < tail_front) {
    constexpr uint64_t kStepRatherThanSeek = 16;
    MQ_RETURN_IF_ERROR(FreshReader());
    MQ_RETURN_IF_ERROR(read_.reader->Seek(start));
    while (read_.reader->Valid()) {
      uint64_t seq = read_.reader->seq();
      if (seq >= tail_front) break;
      if (Hidden(seq)) {
        ++read_.walk_skipped;
        MQ_RETURN_IF_ERROR(read_.reader->Next());
        continue;
      }
      Loc loc = read_.reader->loc();
      if (visit(seq, loc, PeekPending(seq, loc, &span))) return Status::OK();
      const uint64_t first = seq;
      if (RunThroughLog(&seq, &loc, &span, tail_front, visit)) return Status::OK();
      if (seq - first >= kStepRatherThanSeek) {
        MQ_RETURN_IF_ERROR(read_.reader->Seek(seq + 1));
      } else {
        do {
          MQ_RETURN_IF_ERROR(read_.reader->Next());
        } while (read_.reader->Valid() && read_.reader->seq() <= seq);
      }
    }
  }
  // 2. The tail: the frozen part (being written to LMDB), then the rest.
  for (IndexTail::Entries* tail : tail_.parts()) {
    if (tail->empty()) continue;
    const uint64_t front = tail->front().seq;
    const size_t n = tail->size();  // a visit never appends
    size_t i = start > front ? static_cast<size_t>(std::min<uint64_t>(start - front, n)) : 0;
    for (i = IndexTail::NextLive(*tail, i); i < n; i = IndexTail::NextLive(*tail, i + 1)) {
      const IndexTail::Entry& e = (*tail)[i];  // not consumed: NextLive skipped those
      if (Hidden(e.seq)) continue;
      uint64_t seq = e.seq;
      Loc loc = e.loc;
      if (visit(seq, loc, PeekPending(seq, loc, &span))) return Status::OK();
      // A run through the log, as above: (*tail)[i] is message front + i,
      // and the log's used flag says what the entry's `consumed` says (a
      // consume writes the flag first).
      if (RunThroughLog(&seq, &loc, &span, front + n, visit)) return Status::OK();
      i = static_cast<size_t>(seq - front);
    }
  }
  return Status::OK();
}

Status StoreImpl::ScanPending(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) {
  MutexLock l(&mu_);
  return ScanPendingLocked(from_seq, fn);
}

Status StoreImpl::ScanPendingLocked(uint64_t from_seq, const std::function<bool(const MessageView&)>& fn) {
  if (closed_) return CheckUsable();
  // Every visible message below the first one a scan from the front meets is
  // gone: remember that, so a drain in order never walks consumed entries again.
  const bool from_front = from_seq <= read_.front_seq;
  bool first = true;
  Status err;
  MQ_RETURN_IF_ERROR(Walk(std::max(from_seq, read_.front_seq), [&](uint64_t seq, const Loc& loc, const char*) {
    mu_.AssertHeld();  // runs within this function, under its lock
    MessageView v;
    ReadState state = ReadState::kPending;
    err = ReadAt(seq, loc, &v, &state);
    if (!err.ok()) return true;
    if (state != ReadState::kPending) return false;
    if (first && from_front) read_.front_seq = seq;
    first = false;
    read_.last_seq = seq;
    read_.last_loc = loc;
    return !fn(v);
  }));
  MQ_RETURN_IF_ERROR(err);
  if (first && from_front) read_.front_seq = std::max(read_.front_seq, next_seq_);
  return FlushIfWalksPay();
}

Status StoreImpl::FlushIfWalksPay() {
  constexpr uint64_t kWorthIt = 4096;
  const bool pay = read_.walk_skipped >= kWorthIt && tail_.waiting_deletes() != 0 && !index_->read_only();
  read_.walk_skipped = 0;
  return pay ? FlushTail() : Status::OK();
}

Status StoreImpl::FindFirst(uint64_t from_seq, const std::function<bool(std::string_view)>& match, Message* m,
                            uint64_t* scanned_to) {
  MutexLock l(&mu_);
  MappedReads view(this);
  if (closed_) return CheckUsable();
  bool found = false;
  // Kept in a local (a register) during the walk, stored once at the end.
  uint64_t scanned = from_seq > 0 ? from_seq - 1 : 0;
  Status err;
  // always_inline: the visit runs once per message scanned; as a call it cost
  // a third of a predicate scan (bench/analysis.md).
  Status walked = Walk(std::max(from_seq, read_.front_seq), [&](uint64_t seq, const Loc& loc, const char* rec)
                                                           __attribute__((always_inline)) {
    mu_.AssertHeld();  // runs within this function, under its lock
    // The checksum is checked only for a match: a predicate may look at
    // damaged bytes, but never gets them delivered.
    std::string_view payload;
    if (rec != nullptr) {
      payload = std::string_view(rec + log::kRecordHeaderSize, loc.size);
    } else {
      MessageView v;
      ReadState state = ReadState::kPending;
      err = ReadAt(seq, loc, &v, &state, false);
      if (!err.ok()) return true;
      scanned = seq;
      if (state != ReadState::kPending) return false;
      payload = v.payload;
    }
    scanned = seq;
    if (!match(payload)) return false;
    MessageView v;
    ReadState state = ReadState::kPending;
    err = ReadAt(seq, loc, &v, &state, true);
    if (!err.ok()) return true;
    if (state != ReadState::kPending) return false;
    read_.last_seq = seq;
    read_.last_loc = loc;
    Fill(v, m);
    found = true;
    return true;
  });
  *scanned_to = scanned;
  MQ_RETURN_IF_ERROR(walked);
  MQ_RETURN_IF_ERROR(err);
  MQ_RETURN_IF_ERROR(FlushIfWalksPay());
  if (!found) return Status::NotFound(path_ + ": no pending message matches");
  return Status::OK();
}

void StoreImpl::RememberKeyFront(const std::string& key, uint64_t seq) {
  if (read_.key_front.size() >= 65536) read_.key_front.clear();
  read_.key_front[key] = seq;
}

Status StoreImpl::FirstByKey(std::string_view key, Message* m) {
  if (!opt_.key.enabled())
    return Status::InvalidArgument(path_ + ": the queue has no key extractor; open it with one (first:N or until:C) "
                                   "to receive by key");
  MutexLock l(&mu_);
  if (closed_) return CheckUsable();
  auto found = [&](uint64_t seq, const Loc& loc, bool verify_key) -> Result<bool> {
    mu_.AssertHeld();  // runs within this function, under its lock
    MessageView v;
    ReadState state = ReadState::kPending;
    Status s = ReadAt(seq, loc, &v, &state);
    if (!s.ok()) return s;
    if (state != ReadState::kPending || (verify_key && opt_.key.Extract(v.payload) != key)) return false;
    read_.last_seq = seq;
    read_.last_loc = loc;
    Fill(v, m);
    return true;
  };
  // 1. LMDB's key table: every entry there is older than the tail. Start at
  // the key's front, so consumed entries not yet deleted are stepped over once;
  // a front at the tail means LMDB has none of the key's (no seek at all).
  std::string k(key);
  auto front = read_.key_front.find(k);
  // LMDB may hold more (a flush in flight): those are found in the tail below.
  const uint64_t tail_front = std::min(tail_.Front(), next_seq_);
  const bool in_lmdb = front == read_.key_front.end() || front->second < tail_front;
  if (in_lmdb) {
    MQ_RETURN_IF_ERROR(FreshReader());
    MQ_RETURN_IF_ERROR(read_.reader->SeekKey(key, front != read_.key_front.end() ? front->second : 0));
  }
  uint64_t last_seen = 0;
  while (in_lmdb && read_.reader->Valid()) {
    const uint64_t seq = read_.reader->seq();
    if (seq >= tail_front) break;
    last_seen = seq;
    if (!Hidden(seq)) {
      Loc loc = read_.reader->loc();
      auto r = found(seq, loc, loc.key_truncated);
      if (!r.ok()) return r.status();
      if (*r) {
        if (!loc.key_truncated) RememberKeyFront(k, seq);
        return Status::OK();
      }
    }
    MQ_RETURN_IF_ERROR(read_.reader->NextKey());
  }
  if (in_lmdb && key.size() < kMaxIndexKey) RememberKeyFront(k, last_seen != 0 ? last_seen + 1 : tail_front);
  // 2. The tail: the frozen part, then the rest.
  for (IndexTail::KeyMap* keys : tail_.key_parts()) {
    auto it = keys->find(k);
    if (it == keys->end()) continue;
    IndexTail::KeyItems& tk = it->second;
    for (size_t i = tk.front; i < tk.size(); ++i) {
      const uint64_t seq = tk.seq(i);
      const IndexTail::Entry* e = tail_.Find(seq);
      if (e == nullptr || e->consumed) {
        if (i == tk.front) ++tk.front;  // consumed for good: never look at it again
        continue;
      }
      if (Hidden(seq)) continue;
      auto r = found(seq, e->loc, false);
      if (!r.ok()) return r.status();
      if (*r) return Status::OK();
    }
  }
  return Status::NotFound(path_ + ": no pending message with that key");
}

StoreStats StoreImpl::Stats() {
  MutexLock l(&mu_);
  StoreStats st;
  if (closed_) return st;
  // The counts below need LMDB and the tails not to overlap. A failure is in
  // broken_; the frozen tail then stays out of LMDB and is counted as a tail.
  (void)WaitTailFlush();
  if (FreshReader().ok()) {
    uint64_t entries = read_.reader->Entries();
    st.pending = entries - std::min<uint64_t>(entries, tail_.waiting_deletes()) + tail_.pending();
    if (read_.reader->Seek(0).ok()) {
      while (read_.reader->Valid() && Hidden(read_.reader->seq()) && taken_.count(read_.reader->seq()) == 0)
        if (!read_.reader->Next().ok()) break;
      if (read_.reader->Valid()) st.first_pending_seq = read_.reader->seq();
    }
    for (const IndexTail::Entries* tail : tail_.parts())
      for (size_t i = 0; st.first_pending_seq == 0 && i < tail->size(); ++i)
        if (!(*tail)[i].consumed) st.first_pending_seq = (*tail)[i].seq;
  }
  st.taken = taken_.size();
  st.consumed = consumed_count_;
  st.file_bytes = end_;
  st.pending_bytes = pending_bytes_;
  st.reclaimable_bytes = consumed_bytes_;
  st.last_seq = commit_.last_seq();
  st.durable_seq = commit_.durable_seq();
  st.format_version = log_.legacy ? 0 : log_.header.version;
  st.log_id = log_.legacy ? 0 : log_.header.log_id;
  st.compactions = compactions_;
  st.index_writes = tail_.writes();
  if (index_ != nullptr) {
    st.index_map_bytes = index_->map_bytes();
    st.index_map_resizes = index_->map_resizes();
  }
  st.syncs = commit_.syncs();
  st.flusher_wakeups = commit_.flusher_wakeups();
  return st;
}

}  // namespace mq
