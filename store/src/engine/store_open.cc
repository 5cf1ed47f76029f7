// Opening a store: lock, log header, index trust, scan of what the index has
// not seen, and the recovery mode's answer to damage (docs/design.md,
// "Recovery").
#include <cstdio>
#include <random>

#include "util/coding.h"
#include "format/log_format.h"
#include "engine/recovery_plan.h"
#include "engine/store_impl.h"

namespace mq {

uint64_t NewLogId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return id;
}

std::string IndexPathFor(const std::string& log_path) { return log_path + ".idx"; }
std::string LockPathFor(const std::string& log_path) { return log_path + ".lock"; }

StoreImpl::StoreImpl(std::string path, StoreOptions opt)
    : path_(std::move(path)), dir_(DirName(path_)), name_(BaseName(path_)), opt_(std::move(opt)), cache_(256 << 10, opt_.read_cache_bytes),
      commit_(path_, name_, opt_.sync, opt_.batch_interval) {
  env_ = opt_.env != nullptr ? opt_.env : Env::Default();
  if (opt_.index_path.empty()) opt_.index_path = IndexPathFor(path_);
  // Shared background threads (mq/store_threads.h), if given.
  commit_.UseThreads(opt_.threads);
  tail_.UseThreads(opt_.threads);
  compactor_.UseThreads(opt_.threads);
}

StoreImpl::~StoreImpl() {
  if (!closed_) (void)Close();
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  if (path.empty()) return Status::InvalidArgument("queue path is empty");
  if (options.max_message_size > log::kMaxPayload)
    return Status::InvalidArgument("max_message_size " + std::to_string(options.max_message_size) +
                                   " is above the format's limit of " + std::to_string(log::kMaxPayload));
  auto s = std::make_unique<StoreImpl>(path, options);
  MQ_RETURN_IF_ERROR(s->OpenImpl());
  return std::unique_ptr<Store>(std::move(s));
}

void StoreImpl::ReportCorruption(uint64_t offset, uint64_t bytes, const std::string& reason) {
  if (opt_.reporter != nullptr) opt_.reporter->Corruption(path_, offset, bytes, reason);
}

void StoreImpl::Note(const std::string& what) {
  if (opt_.reporter != nullptr) opt_.reporter->Note(what);
}

Status StoreImpl::CreateLog() {
  std::unique_ptr<File> f;
  Status s = qdir_->OpenFile(name_, OpenMode::kCreateNew, opt_.file_mode).MoveTo(&f);
  if (!s.ok()) return s;
  log_.header = log::Header{log::kFormatVersion, 0, NewLogId(), 1, env_->NowMicros()};
  std::string buf;
  log::EncodeHeader(log_.header, &buf);
  s = f->Write(0, buf.data(), buf.size());
  if (s.ok()) s = f->Sync();
  if (s.ok()) s = qdir_->Sync();
  if (!s.ok()) return s.WithContext("creating " + path_);
  report_.created = true;
  return Status::OK();
}

// Decides what the file is from its first bytes. Changes nothing, except
// that an empty file gets a header (it holds no message either way).
Status StoreImpl::ReadHeader(uint64_t size) {
  log::FileKind kind;
  Status s = log::DetectFormat(file_.get(), size, &log_.header, &kind);
  if (s.IsCorruption() && opt_.recovery == RecoveryMode::kSalvage) {
    // A damaged header must not cost every message behind it: if a framed
    // message checks out right after it, salvage rewrites the log with a new
    // header (keeping the old one in a side file).
    log::LogScanner sc(file_.get(), size, log::kMaxPayload, 4096);
    log::ScannedMessage m;
    if (sc.ValidFramedAt(log::kHeaderRecordSize, 0, &m)) {
      ReportCorruption(0, log::kHeaderRecordSize, s.message() + "; salvage gives the log a new header");
      log_.header = log::Header{log::kFormatVersion, 0, 0, 1, 0};
      log_.header_damaged = true;
      kind = log::FileKind::kFramed;
      s = Status::OK();
    }
  }
  MQ_RETURN_IF_ERROR(s);
  if (kind == log::FileKind::kEmpty) {
    log_.header = log::Header{log::kFormatVersion, 0, NewLogId(), 1, env_->NowMicros()};
    std::string h;
    log::EncodeHeader(log_.header, &h);
    MQ_RETURN_IF_ERROR(file_->Write(0, h.data(), h.size()));
    MQ_RETURN_IF_ERROR(file_->Sync());
    kind = log::FileKind::kFramed;
  }
  log_.legacy = kind == log::FileKind::kLegacy;
  log_.framed_only = !log_.legacy;
  log_.data_start = log_.legacy ? 0 : log::kHeaderRecordSize;
  return Status::OK();
}

Status StoreImpl::OpenImpl() {
  if (name_.empty() || name_ == "." || name_ == "..")
    return Status::InvalidArgument(path_ + ": is a directory; give the path of a queue file");
  Status ds = env_->OpenDirectory(dir_).MoveTo(&qdir_);
  if (ds.IsNotFound() && !opt_.create_if_missing) return Status::NotFound(path_ + ": no such queue file");
  if (!ds.ok()) return ds.WithContext("opening the directory of queue " + path_);
  const std::string idx_dir = DirName(opt_.index_path);
  idx_name_ = BaseName(opt_.index_path);
  if (idx_dir == dir_) {
    idx_dir_ = qdir_.get();
  } else {
    ds = env_->OpenDirectory(idx_dir).MoveTo(&idx_dir_own_);
    if (!ds.ok()) return ds.WithContext("opening the directory of index " + opt_.index_path);
    idx_dir_ = idx_dir_own_.get();
  }
  FileInfo info;
  MQ_ASSIGN_OR_RETURN(info, qdir_->Stat(name_));
  if (info.exists && info.is_directory)
    return Status::InvalidArgument(path_ + ": is a directory; give the path of a queue file");
  if (info.exists && info.is_symlink)
    return Status::InvalidArgument(path_ + ": is a symbolic link; mq opens a queue only by its real name, never "
                                           "through a link (give the path of the file it points to, or remove "
                                           "the link if you did not make it)");
  if (info.exists && !info.is_regular)
    return Status::InvalidArgument(path_ + ": is not a regular file; give the path of a queue file");
  if (!info.exists && !opt_.create_if_missing)
    return Status::NotFound(path_ + ": no such queue file");

  FileInfo lock_info;
  MQ_ASSIGN_OR_RETURN(lock_info, qdir_->Stat(LockPathFor(name_)));
  // Nobody else sees the store yet; held so that the open, like every
  // other operation, touches what mu_ guards only under it.
  MutexLock l(&mu_);
  Status s = LockAndOpen(info);
  if (!s.ok() && lock_ != nullptr && !lock_info.exists) ForgetNewLock();
  return s;
}

// A refused open leaves the directory as it found it: the lock file this
// open created goes again. Unlinked while still held, and LockFile takes a
// lock only if the name still leads to the inode it locked, so no two
// processes ever both hold "the" lock.
void StoreImpl::ForgetNewLock() {
  (void)qdir_->Remove(LockPathFor(name_));
  (void)qdir_->Sync();
  lock_.reset();
}

Status StoreImpl::LockAndOpen(const FileInfo& info) {
  pid_t holder = 0;
  Status s = qdir_->LockFile(LockPathFor(name_), opt_.file_mode, &holder).MoveTo(&lock_);
  if (s.IsBusy())
    return Status::Busy(path_ + ": queue in use by pid " + std::to_string(holder) + " (lock " +
                        LockPathFor(path_) + "); stop that process, or wait for it to close the queue");
  if (s.sys_errno() == EACCES || s.sys_errno() == EPERM)
    return Status::IOError(LockPathFor(path_) + ": cannot open the writer lock of queue " + path_ +
                               " (run as the queue's owner, or give this user write access to its directory)",
                           s.sys_errno());
  if (!s.ok()) return s;

  if (!info.exists) {
    s = CreateLog();
    if (!s.ok() && s.code() != Status::Code::kIOError) return s;
    if (!s.ok() && s.sys_errno() != EEXIST) return s;
  }
  {
    std::unique_ptr<File> f;
    s = qdir_->OpenFile(name_, OpenMode::kReadWrite, opt_.file_mode).MoveTo(&f);
    if (s.sys_errno() == EACCES || s.sys_errno() == EPERM)
      return Status::IOError(path_ + ": cannot open the queue for reading and writing (run as its owner, or "
                                     "read it with mqtool dump)",
                             s.sys_errno());
    if (!s.ok()) return s;
    file_ = std::move(f);
    FileInfo fi;
    MQ_ASSIGN_OR_RETURN(fi, qdir_->Stat(name_));
    commit_.SetFile(file_, qdir_.get(), fi.device, fi.inode);
  }
  uint64_t size = 0;
  MQ_ASSIGN_OR_RETURN(size, file_->Size());
  MQ_RETURN_IF_ERROR(ReadHeader(size));
  // The directory's fsync (a create that failed or crashed before its own,
  // here or in an earlier process, leaves a file a power loss takes) comes
  // in OpenIndex, before the index's first write: it is skipped there when
  // the index proves an open of this boot already did it.
  MQ_ASSIGN_OR_RETURN(size, file_->Size());
  report_.legacy = log_.legacy;
  boot_id_ = env_->BootId();
  if (log_.legacy) {
    FileInfo fi;
    MQ_ASSIGN_OR_RETURN(fi, qdir_->Stat(name_));
    log_.dev = fi.device;
    log_.ino = fi.inode;
  }
  next_seq_ = log_.header.seq_floor == 0 ? 1 : log_.header.seq_floor;
  (void)qdir_->Remove(name_ + ".compact");  // a compaction that never reached its rename

  FileInfo idx_info;
  MQ_ASSIGN_OR_RETURN(idx_info, idx_dir_->Stat(idx_name_));
  s = OpenIndex();
  // A power cut can leave an index that reads well (a stale page LMDB reuses
  // still holds an older, valid meta) and fails only when written
  // (MDB_CORRUPTED): replace the file and open again, once.
  if (s.IsCorruption() && s.message().rfind(opt_.index_path + ": ", 0) == 0) {
    Note(s.message() + "; moved to " + opt_.index_path + ".unreadable and rebuilt from the log");
    read_.reader.reset();
    index_.reset();
    bad_flag_offsets_.clear();
    report_.messages_indexed = report_.bad_flags = 0;
    s = idx_dir_->Rename(idx_name_, idx_name_ + ".unreadable");
    if (s.ok()) s = idx_dir_->Sync();
    if (s.ok()) s = OpenIndex();
  }
  if (!s.ok()) {
    index_.reset();
    if (!idx_info.exists) {  // leave the directory as we found it
      (void)idx_dir_->Remove(idx_name_);
      (void)idx_dir_->Remove(idx_name_ + "-lock");
    }
    return s;
  }
  if (opt_.sync == SyncPolicy::kBatch) commit_.StartFlusher();
  return Status::OK();
}

bool StoreImpl::IndexTrusted(const IndexMeta& m, uint64_t size, std::string* why) {
  auto no = [why](std::string w) {
    *why = std::move(w);
    return false;
  };
  if (log_.header_damaged) return no("the log's header is damaged");
  if (!IndexMeta::Known(m.version)) return no("index format version " + std::to_string(m.version));
  if (!m.valid) return no("an earlier rebuild did not finish");
  if (log_.legacy) {
    if (m.log_id != 0 || log_.dev != m.log_dev || log_.ino != m.log_ino)
      return no("it was built for another log file");
  } else if (m.log_id != log_.header.log_id) {
    return no("it was built for another log file (log id differs)");
  }
  if (!m.clean && m.boot_id != boot_id_ && !SurvivesPowerCut(m))
    return no("the machine restarted since it was last written unsynced");
  if (m.applied > size) return no("it covers " + std::to_string(m.applied) + " bytes but the log has " +
                                  std::to_string(size));
  if (m.applied < log_.data_start) return no("it covers less than the file header");
  if (m.tail_seq == 0) {  // no message indexed (a legacy log's first one starts at offset 0)
    if (!OnlyKeyRecords(log_.data_start, m.applied)) return no("its tail record is missing");
    return LogProvesIndexFlags(m, why);
  }
  log::LogScanner sc(file_.get(), size, log::kMaxPayload, 4096);
  log::ScannedMessage msg;
  if (m.tail_seq == 0) return no("its tail record is missing");
  sc.Reset(m.tail_start, m.tail_seq - 1, false);
  if (!sc.Next(&msg) || msg.seq != m.tail_seq || !OnlyKeyRecords(msg.end, m.applied))
    return no("its last indexed message at offset " + std::to_string(m.tail_start) + " does not match the log");
  return LogProvesIndexFlags(m, why);
}

// The index records which messages are consumed; only the log's used flags
// say so. A log put back from a copy (`cp q.bak q`) has the same log id and
// tail but older flags, so the index must prove that it describes these very
// bytes (docs/design.md, "When the index is trusted"):
//  - a log with a header: every writable open raises the header's session
//    stamp (synced) and the index records it; a copy made before that open,
//    or an index from before it, names another stamp;
//  - a log without header has no stamp: a clean close records the log's
//    device, inode, size and ctime after its last sync, and any write since
//    (which sets the ctime; no user can set it back) causes a rebuild, as
//    does a crash.
bool StoreImpl::SurvivesPowerCut(const IndexMeta& m) const {
  return !log_.legacy && !log_.header_damaged && m.valid && CoversOnlySyncedLog(m) && m.applied >= log_.data_start;
}

bool StoreImpl::LogProvesIndexFlags(const IndexMeta& m, std::string* why) {
  return IndexProvesLogFlags(m, log_.legacy, log_.header.session, qdir_.get(), name_, why);
}

// Raises the session stamp of the log's header by one, and syncs it. The
// index's in-use mark (already synced) names the new stamp: a crash between
// the two leaves them different, which causes a rebuild.
Status StoreImpl::BumpSession(bool sync) {
  if (log_.legacy) return Status::OK();
  return log::WriteHeaderSession(file_.get(), log_.header, sync).WithContext("stamping the header of " + path_);
}

Status StoreImpl::StampClosedLog(IndexMeta* m) {
  FileInfo fi;
  MQ_ASSIGN_OR_RETURN(fi, qdir_->Stat(name_));
  m->closed_dev = fi.device;
  m->closed_ino = fi.inode;
  m->closed_size = fi.size;
  m->closed_ctime_ns = fi.ctime_ns;
  return Status::OK();
}

IndexMeta StoreImpl::CurrentMeta(bool clean) const {
  IndexMeta m;
  m.version = IndexMeta::kVersion;
  m.valid = true;
  m.log_id = log_.legacy ? 0 : log_.header.log_id;
  if (log_.legacy) {
    m.log_dev = log_.dev;
    m.log_ino = log_.ino;
  }
  m.applied = end_;
  m.tail_start = tail_start_;
  m.tail_seq = tail_seq_;
  m.next_seq = next_seq_;
  m.framed_only = log_.framed_only;
  m.boot_id = boot_id_;
  m.clean = clean;
  m.extractor = opt_.key.ToString();
  m.key_in_log = log_.key_in_log;
  m.consumed_count = consumed_count_;
  m.consumed_bytes = consumed_bytes_;
  m.pending_bytes = pending_bytes_;
  m.session = log_.header.session;
  // The open's commits claim what the open made sure of (open_synced_end_);
  // a flush's claims what it synced (IndexTail::WriteFrozen); other commits
  // (compaction, rebuild, close) claim nothing.
  if (open_synced_end_ != 0 && end_ <= open_synced_end_ && !log_.legacy) m.synced_log = end_;
  return m;
}

Status StoreImpl::OpenIndex() {
  Status s = Index::Open(opt_.index_path, false, opt_.file_mode, &index_, idx_dir_->native_handle(),
                    opt_.max_index_bytes);
  if (s.IsCorruption() || s.code() == Status::Code::kUnsupported) {
    // The index is derived data, but we still keep the unreadable file.
    std::string aside = opt_.index_path + ".unreadable";
    Note(s.message() + "; moved to " + aside + " and rebuilt from the log");  // the message names the path
    MQ_RETURN_IF_ERROR(idx_dir_->Rename(idx_name_, idx_name_ + ".unreadable"));
    MQ_RETURN_IF_ERROR(idx_dir_->Sync());
    s = Index::Open(opt_.index_path, false, opt_.file_mode, &index_, idx_dir_->native_handle(),
                    opt_.max_index_bytes);
  }
  MQ_RETURN_IF_ERROR(s);
  read_.reader = std::make_unique<Index::Read>(index_.get());

  uint64_t size = 0;
  MQ_ASSIGN_OR_RETURN(size, file_->Size());
  IndexMeta meta;
  bool present = false;
  {
    Index::Read r(index_.get());
    MQ_RETURN_IF_ERROR(r.Begin());
    s = r.GetMeta(&meta, &present);
  }
  // After a power cut, LMDB's unsynced commits (MDB_NOSYNC) may have reached
  // the disk in any order: pages the meta points to may be old or missing,
  // and LMDB may fail to read it (MDB_CORRUPTED) or abort in its next write.
  // Such an index is not reused, not even for a rebuild: a new file replaces
  // it (the old one is kept as QUEUE.idx.unreadable, as an unreadable one;
  // what its meta said still serves below as an untrusted index's does).
  // An index whose last commit claims only synced log bytes is whole: its
  // commits synced their pages (MDB_NOMETASYNC), so a power cut can only have
  // undone the last one (docs/design.md, "An index that survives a power cut").
  const bool torn = s.IsCorruption() ||
                    (s.ok() && present && !meta.clean && meta.boot_id != boot_id_ && !SurvivesPowerCut(meta));
  if (!s.ok() && !torn) return s;
  std::string why = "there was no index";
  if (torn) {
    why = s.ok() ? "the machine restarted since it was last written unsynced" : s.message();
    Note(opt_.index_path + ": " + why + "; moved to " + opt_.index_path + ".unreadable and rebuilt from the log");
    read_.reader.reset();
    index_.reset();
    MQ_RETURN_IF_ERROR(idx_dir_->Rename(idx_name_, idx_name_ + ".unreadable"));
    MQ_RETURN_IF_ERROR(idx_dir_->Sync());
    MQ_RETURN_IF_ERROR(Index::Open(opt_.index_path, false, opt_.file_mode, &index_, idx_dir_->native_handle()));
    read_.reader = std::make_unique<Index::Read>(index_.get());
    if (!s.ok()) present = false;  // what was read of it (the key extractor, the next seq) still counts
  }
  bool trusted = present && !torn && IndexTrusted(meta, size, &why);
  MQ_RETURN_IF_ERROR(ChooseKeyExtractor(present ? &meta : nullptr, trusted, size));
  if (trusted && meta.extractor != opt_.key.ToString()) {
    trusted = false;
    why = "key extractor changed from " + meta.extractor + " to " + opt_.key.ToString();
  }
  // With the header's seq floor lost, the index's memory of the next seq
  // keeps numbers from being reused.
  if (log_.header_damaged && present) next_seq_ = std::max(next_seq_, meta.next_seq);
  if (!log_.legacy) ++log_.header.session;  // written to the log at the end of the open
  // Reopening in the same boot after a process that did not close the store
  // (a crash, a SIGKILL: the supervised restart; docs/design.md, "Reopening
  // in the same boot"): the index, trusted, names this log, is not clean and
  // was last written in this boot. Every meta the index holds was written
  // after the open that wrote it had synced the directory and a not-clean
  // in-use mark; only a clean close, which syncs the log first, makes the
  // durable meta clean again, and that would show here. So the directory
  // entry, the durable "in use" and (after a power loss, which changes the
  // boot id, an unclean index is never trusted) the stamp need no sync now.
  const bool resume = trusted && !meta.clean && meta.boot_id == boot_id_ && !log_.legacy;
  report_.synced_at_open = !resume;
  if (!report_.created && !resume) MQ_RETURN_IF_ERROR(qdir_->Sync());  // before anything is acknowledged
  // Before any unsynced commit, the index is durably marked in use (not
  // clean, this boot, the new session stamp), so that a power loss can never
  // leave `clean` on a stale or torn index. The mark is the scan's first
  // commit (every meta it writes is such a mark; a rebuild's says `valid =
  // false` until it ends), synced before any other (CommitOpenWrite): one
  // index write transaction for an open whose log holds few messages, not
  // one for the mark and more for the scan, each of which would leave pages
  // on LMDB's free list (docs/mailbox.md, "Descriptors and idle cost").
  // The open's commits (often the only ones a store that appends little
  // ever makes) claim only synced log bytes, so that a later boot may trust
  // them (docs/design.md, "An index that survives a power cut"): what a
  // trusted index proves durable (a clean close synced the log; an unclean
  // index says so itself), and, when the log holds more, the log is synced
  // before the first index commit. A resumed open syncs nothing: its commits
  // claim only what the index it trusts proved.
  open_synced_end_ = 0;
  if (!log_.legacy && !log_.header_damaged) {
    if (trusted && (meta.clean || CoversOnlySyncedLog(meta))) open_synced_end_ = meta.applied;
    if (!resume && open_synced_end_ < size) {
      MQ_RETURN_IF_ERROR(file_->Sync());
      open_synced_end_ = size;
    }
  }
  mark_unwritten_ = true;
  mark_sync_ = !resume;
  record_key_ = !log_.key_in_log;
  if (trusted) {
    tail_start_ = meta.tail_start;
    tail_seq_ = meta.tail_seq;
    log_.framed_only = meta.framed_only || !log_.legacy;
    pending_bytes_ = meta.pending_bytes;
    consumed_count_ = meta.consumed_count;
    consumed_bytes_ = meta.consumed_bytes;
    next_seq_ = std::max(next_seq_, meta.next_seq);
    report_.index_action = meta.applied == size ? IndexAction::kTrusted : IndexAction::kCaughtUp;
    report_.index_reason.clear();
    MQ_RETURN_IF_ERROR(ScanAndIndex(meta.applied, meta.tail_seq, log_.framed_only, false));
  } else {
    if (present) Note(opt_.index_path + ": rebuilt from the log: " + why);
    report_.index_action = IndexAction::kRebuilt;
    report_.index_reason = why;
    tail_start_ = tail_seq_ = 0;
    pending_bytes_ = consumed_count_ = consumed_bytes_ = 0;
    MQ_RETURN_IF_ERROR(ScanAndIndex(log_.data_start, 0, !log_.legacy, true));
  }
  // A previous process may have died with appends not yet synced: nothing
  // in the log counts as durable until this process syncs it (WaitDurable
  // does so on demand), so generation 1 stands for "unknown".
  commit_.StartUnsynced(end_);
  last_sync_mark_ = 0;
  // The scan recorded the key extractor in its last commit, unless it
  // salvaged (the rewritten log has no record yet).
  if (record_key_) {
    MQ_RETURN_IF_ERROR(RecordKeyExtractor());
    record_key_ = false;
    Index::Write w(index_.get());
    MQ_RETURN_IF_ERROR(w.Begin());
    MQ_RETURN_IF_ERROR(w.PutMeta(CurrentMeta(false)));
    MQ_RETURN_IF_ERROR(CommitOpenWrite(&w));
  }
  mark_unwritten_ = false;
  open_synced_end_ = 0;  // from here on, only a flush that syncs the log first claims it
  // Last, once nothing refused the log: stamp it with this open's session.
  return BumpSession(!resume);
}

Status StoreImpl::CommitOpenWrite(Index::Write* w) {
  MQ_RETURN_IF_ERROR(w->Commit());
  if (!mark_unwritten_) return Status::OK();
  mark_unwritten_ = false;  // this commit was the open's in-use mark
  return mark_sync_ ? index_->SyncToDisk() : Status::OK();
}

Status StoreImpl::ScanAndIndex(uint64_t from, uint64_t prev_seq, bool framed_only, bool rebuild) {
  uint64_t size = 0;
  MQ_ASSIGN_OR_RETURN(size, file_->Size());
  report_.scanned_from = from;
  StaleReader();  // no snapshot held: each batch's Begin may grow the index map
  Index::Write w(index_.get());
  MQ_RETURN_IF_ERROR(w.Begin());
  if (rebuild) {
    MQ_RETURN_IF_ERROR(w.Clear());
    IndexMeta invalid = CurrentMeta(false);
    invalid.valid = false;
    MQ_RETURN_IF_ERROR(w.PutMeta(invalid));
  }
  // What to keep, cut or refuse is RecoveryPlanner's decision, from the
  // bytes alone (engine/recovery_plan.h); here it is acted on: the messages
  // it keeps are indexed as it hands them out, then its findings are
  // reported, and the open is refused, the tail cut or the log rewritten.
  RecoveryPlanner planner(file_.get(), PlanFacts(size, from, prev_seq, framed_only));
  uint64_t batch = 0;
  end_ = from;
  log::ScannedMessage m;
  bool after_damage = false;
  while (planner.Next(&m, &after_damage)) {
    uint64_t framed = m.end - m.start;
    if (m.used == log::kConsumed) {
      ++consumed_count_;
      consumed_bytes_ += framed;
    } else {
      pending_bytes_ += framed;
      Loc loc{m.msg_offset, static_cast<uint32_t>(m.payload.size()), m.framed, false};
      std::string_view key = opt_.key.Extract(m.payload);
      MQ_RETURN_IF_ERROR(w.Put(m.seq, loc, key, opt_.key.enabled(), true));
      ++report_.messages_indexed;
    }
    tail_start_ = m.start;
    tail_seq_ = m.seq;
    end_ = m.end;
    next_seq_ = std::max(next_seq_, m.seq + 1);
    if ((++batch % 65536 == 0 || w.NearlyFull()) && !after_damage) {
      IndexMeta meta = CurrentMeta(false);
      meta.valid = !rebuild;
      MQ_RETURN_IF_ERROR(w.PutMeta(meta));
      MQ_RETURN_IF_ERROR(CommitOpenWrite(&w));
      MQ_RETURN_IF_ERROR(w.Begin());
    }
  }
  const RecoveryPlan& plan = planner.plan();
  for (const RecoveryFinding& f : plan.findings) {
    if (f.kind == RecoveryFinding::Kind::kBadFlag) {
      ++report_.bad_flags;
      if (repair_flags_) bad_flag_offsets_.push_back(f.offset);
    } else if (plan.refusal.ok()) {
      ++report_.damaged_regions;
      report_.damaged_bytes += f.bytes;
    }
    ReportCorruption(f.offset, f.bytes, f.reason);
  }
  MQ_RETURN_IF_ERROR(planner.status());
  MQ_RETURN_IF_ERROR(plan.refusal);
  end_ = plan.end;
  log_.framed_only = log_.framed_only || plan.framed_only;
  const bool damaged_middle = plan.rewrite;
  if (plan.cut) MQ_RETURN_IF_ERROR(CutTail(plan.cut_offset, size, plan.cut_reason));
  report_.scanned_bytes = end_ - from;
  MQ_RETURN_IF_ERROR(RepairFlags());
  StaleReader();
  if (!damaged_middle && !log_.header_damaged) {
    if (record_key_) {  // an open's: in the scan's last commit
      MQ_RETURN_IF_ERROR(RecordKeyExtractor());
      record_key_ = false;
    }
    MQ_RETURN_IF_ERROR(w.PutMeta(CurrentMeta(false)));
    MQ_RETURN_IF_ERROR(CommitOpenWrite(&w));
  } else {
    // Salvage: write the intact messages into a fresh log; the rewrite keeps
    // every damaged region (and a torn tail) in side files first, as its
    // plan of the whole log says.
    w.Abort();
    if (mark_unwritten_) {  // the open's in-use mark, before the rewrite's commits
      IndexMeta mark = CurrentMeta(false);
      mark.valid = false;
      MQ_RETURN_IF_ERROR(w.Begin());
      MQ_RETURN_IF_ERROR(w.PutMeta(mark));
      MQ_RETURN_IF_ERROR(CommitOpenWrite(&w));
    }
    end_ = size;
    open_synced_end_ = 0;  // offsets of the old log: the rewrite's commit claims nothing
    MQ_RETURN_IF_ERROR(SalvageRewrite());
  }
  commit_.SetLastSeq(next_seq_ - 1);
  return Status::OK();
}

RecoveryFacts StoreImpl::PlanFacts(uint64_t size, uint64_t from, uint64_t prev_seq, bool framed_only) const {
  RecoveryFacts facts;
  facts.path = path_;
  facts.size = size;
  facts.data_start = log_.data_start;
  facts.legacy = log_.legacy;
  facts.from = from;
  facts.prev_seq = prev_seq;
  facts.framed_only = framed_only;
  facts.mode = opt_.recovery;
  // (The scan bounds a message by the format's limit, not the queue's:
  // max_message_size bounds appends, and lowering it must not turn messages
  // already stored into "damage".)
  return facts;
}

// A used flag that is neither 0 nor 1 reads as pending; RebuildIndex (what
// `mqtool recover` runs) makes that explicit: it keeps the 4 old bytes in a
// side file QUEUE.flag-OFFSET, then writes 0 there, and syncs the log.
// Pending is the safe value: a message is never lost, at worst delivered.
Status StoreImpl::RepairFlags() {
  std::vector<uint64_t> offsets;
  offsets.swap(bad_flag_offsets_);
  if (offsets.empty()) return Status::OK();
  for (uint64_t off : offsets) {
    std::string side;
    MQ_RETURN_IF_ERROR(SaveSideFile(qdir_.get(), name_, "flag-" + std::to_string(off), file_.get(), off, 4,
                                    opt_.file_mode, &side));
    report_.side_files.push_back(side);
    const char zero[4] = {0, 0, 0, 0};
    MQ_RETURN_IF_ERROR(file_->Write(off, zero, sizeof(zero)));
    ++report_.flags_repaired;
    Note(path_ + ": offset " + std::to_string(off) + ": used flag set to 0 (pending); the old one is kept in " + side);
  }
  cache_.Invalidate();
  return file_->Sync();
}

Status StoreImpl::CutTail(uint64_t offset, uint64_t size, const std::string& reason) {
  std::string side;
  MQ_RETURN_IF_ERROR(SaveSideFile(qdir_.get(), name_, "cut-" + std::to_string(offset), file_.get(), offset,
                                  size - offset, opt_.file_mode, &side));
  {
    // A sync mark written later must not name bytes cut here (a live
    // store's index rebuild may cut synced bytes that turned out damaged).
    GroupCommit::Pause no_syncs(&commit_);
    commit_.CutAt(offset);
    last_sync_mark_ = std::min(last_sync_mark_, offset);
  }
  MQ_RETURN_IF_ERROR(file_->Truncate(offset));
  MQ_RETURN_IF_ERROR(file_->Sync());
  report_.tail_cut_offset = offset;
  report_.tail_cut_bytes = size - offset;
  report_.side_files.push_back(side);
  ReportCorruption(offset, size - offset, "torn tail (" + reason + "); cut into " + side);
  Note(path_ + ": cut a torn tail of " + std::to_string(size - offset) + " bytes at offset " +
       std::to_string(offset) + " into " + side);
  return Status::OK();
}

Status SaveSideFile(Directory* dir, const std::string& log_name, const std::string& suffix, File* src,
                    uint64_t offset, uint64_t len, mode_t mode, std::string* side_path) {
  std::unique_ptr<File> out;
  std::string base = log_name + "." + suffix;
  Status s;
  for (int n = 0; n < 1000; ++n) {
    const std::string name = n == 0 ? base : base + "." + std::to_string(n);
    *side_path = dir->PathOf(name);
    s = dir->OpenFile(name, OpenMode::kCreateNew, mode).MoveTo(&out);
    if (s.ok() || s.sys_errno() != EEXIST) break;
  }
  if (!s.ok()) return s.WithContext("keeping damaged bytes of " + dir->PathOf(log_name));
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < len) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), len - done));
    size_t got = 0;
    MQ_RETURN_IF_ERROR(src->Read(offset + done, n, buf.data(), &got));
    if (got == 0) break;
    MQ_RETURN_IF_ERROR(out->Write(done, buf.data(), got));
    done += got;
  }
  MQ_RETURN_IF_ERROR(out->Sync());
  return dir->Sync();
}

}  // namespace mq
