// The queue's key extractor lives in the log, as key extractor records
// (docs/log-format.md, "Key extractor records"): the last one wins. The
// index only caches it, so deleting the index keeps the extractor.
#include <cassert>

#include "format/log_format.h"
#include "format/record.h"
#include "engine/store_impl.h"

namespace mq {

bool StoreImpl::OnlyKeyRecords(uint64_t from, uint64_t to) {
  if (from == to) return true;
  if (from > to) return false;
  log::LogScanner sc(file_.get(), to, log::kMaxPayload, 4096);
  sc.Reset(from, 0, true);
  log::ScannedMessage m;
  return !sc.Next(&m) && sc.io_status().ok() && sc.problem().kind == log::ScanProblem::Kind::kNone &&
         sc.position() == to;
}

Status StoreImpl::ChooseKeyExtractor(const IndexMeta* meta, bool trusted, uint64_t size) {
  assert(!trusted || meta != nullptr);  // a trusted index is one that was read
  // What the log records: the last key record. A trusted index names the
  // one before its end, so only the bytes after it are read.
  log::LogScanner sc(file_.get(), size, log::kMaxPayload, 1 << 20);
  if (trusted)
    sc.Reset(meta->applied, meta->tail_seq, meta->framed_only || !log_.legacy);
  else
    sc.Reset(log_.data_start, 0, !log_.legacy);
  log::ScannedMessage m;
  while (sc.Next(&m)) {
  }
  MQ_RETURN_IF_ERROR(sc.io_status());
  std::string spec = "none";
  bool in_log = true;  // a log without a key record records "none"
  uint64_t where = 0;
  if (sc.key_seen()) {
    spec = sc.key_spec();
    where = sc.key_offset();
  } else if (trusted) {
    spec = meta->extractor;
    in_log = meta->key_in_log || spec == "none";
  } else if (meta != nullptr && !meta->key_in_log && meta->extractor != "none" && !meta->extractor.empty()) {
    // An index written before the log recorded extractors: its extractor is
    // taken over, and recorded in the log below.
    spec = meta->extractor;
    in_log = false;
  }
  auto recorded = KeyExtractor::Parse(spec);
  if (!recorded.ok())
    return Status::Unsupported(path_ + ": offset " + std::to_string(where) + ": the log records key extractor '" +
                               spec + "', which this mq does not know: open it with a newer mq");
  const KeyExtractor asked = opt_.key;
  const std::string have = recorded->ToString(), want = asked.ToString();
  if ((!asked.enabled() && !opt_.rekey) || want == have) {
    opt_.key = *recorded;
    log_.key_in_log = in_log;
    return Status::OK();
  }
  if (recorded->enabled() && !opt_.rekey)
    return Status::InvalidArgument(path_ + ": the queue's key extractor is " + have + " (recorded in its log), not " +
                                   want + "; nothing was changed. To change it to " + want +
                                   ", open with StoreOptions::rekey (mqtool recv --key " + want + " --rekey)");
  opt_.key = asked;
  log_.key_in_log = false;
  return Status::OK();
}

Status StoreImpl::RecordKeyExtractor() {
  std::string rec;
  log::AppendKeyRecord(&rec, opt_.key.ToString());
  assert(KeyExtractor::Parse(opt_.key.ToString()).ok());  // what is recorded reads back (LogScanner)
  MQ_RETURN_IF_ERROR(file_->Write(end_, rec.data(), rec.size()));
  MQ_RETURN_IF_ERROR(file_->Sync());
  cache_.Invalidate();
  if (!report_.created)
    Note(path_ + ": offset " + std::to_string(end_) + ": recorded key extractor " + opt_.key.ToString());
  end_ += rec.size();
  log_.key_in_log = true;
  log_.framed_only = true;  // as after any record of ours: a bare message from here on is damage
  return Status::OK();
}

}  // namespace mq
