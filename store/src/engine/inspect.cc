// Read-only inspection for tools: scans the log and compares the index with it.
#include "mq/inspect.h"

#include <cerrno>

#include "index/index.h"
#include "format/log_format.h"
#include "format/log_scanner.h"
#include "mq/store.h"
#include "format/record.h"

namespace mq {

static_assert(kLogFileHeaderSize == log::kHeaderRecordSize, "inspect.h states the header size");
static_assert(InspectOptions{}.max_message_size == log::kMaxPayload, "inspect.h states the format's limit");
namespace {

// The directory of `path`, held open for the calls relative to it.
Status OpenDirOf(Env* env, const std::string& path, std::unique_ptr<Directory>* dir) {
  Status s = env->OpenDirectory(DirName(path)).MoveTo(dir);
  if (s.IsNotFound()) return Status::NotFound(path + ": no such queue file");
  return s;
}

Status OpenForReading(Env* env, const std::string& path, std::unique_ptr<File>* f, FileInfo* info) {
  *info = FileInfo{};
  const std::string name = BaseName(path);
  if (name.empty() || name == "." || name == "..")
    return Status::InvalidArgument(path + ": is a directory; give the path of a queue file");
  std::unique_ptr<Directory> dir;
  MQ_RETURN_IF_ERROR(OpenDirOf(env, path, &dir));
  MQ_RETURN_IF_ERROR(dir->Stat(name).MoveTo(info));
  if (!info->exists) return Status::NotFound(path + ": no such queue file");
  if (info->is_directory) return Status::InvalidArgument(path + ": is a directory; give the path of a queue file");
  if (info->is_symlink)
    return Status::InvalidArgument(path + ": is a symbolic link; mq opens a queue only by its real name, never "
                                          "through a link (give the path of the file it points to)");
  if (!info->is_regular) return Status::InvalidArgument(path + ": is not a regular file");
  Status s = dir->OpenFile(name, OpenMode::kReadOnly, 0).MoveTo(f);
  if (s.sys_errno() == EACCES)
    return Status::IOError(path + ": cannot read it", EACCES, "run as the queue's owner or root");
  return s;
}

}  // namespace


const char* IndexStateName(IndexInfo::State s) {
  switch (s) {
    case IndexInfo::State::kMissing: return "missing";
    case IndexInfo::State::kCurrent: return "current";
    case IndexInfo::State::kBehind: return "behind";
    case IndexInfo::State::kStale: return "stale";
    case IndexInfo::State::kUnreadable: return "unreadable";
  }
  return "?";
}

static Status ScanLogInto(const std::string& path, const InspectOptions& options,
                          const std::function<bool(const LogMessage&)>& visit, LogSummary* sum) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  *sum = LogSummary{};
  std::unique_ptr<File> f;
  FileInfo info;
  MQ_RETURN_IF_ERROR(OpenForReading(env, path, &f, &info));
  uint64_t size = 0;
  MQ_ASSIGN_OR_RETURN(size, f->Size());
  sum->file_bytes = size;
  log::Header h;
  log::FileKind kind;
  Status detected = log::DetectFormat(f.get(), size, &h, &kind);
  if (!detected.ok()) {
    return detected;
  }
  sum->legacy = kind != log::FileKind::kFramed;
  if (kind == log::FileKind::kEmpty) return Status::OK();
  sum->format_version = sum->legacy ? 0 : h.version;
  sum->log_id = h.log_id;
  sum->seq_floor = h.seq_floor;
  sum->created_micros = h.created_micros;
  sum->session = h.session;

  log::LogScanner sc(f.get(), size, options.max_message_size);
  sc.Reset(sum->legacy ? 0 : log::kHeaderRecordSize, 0, !sum->legacy);
  log::ScannedMessage m;
  for (;;) {
    while (sc.Next(&m)) {
      LogMessage r{m.seq, m.start, m.msg_offset, m.end, m.framed, m.used == log::kConsumed, m.used, m.payload};
      ++sum->messages;
      if (sum->first_seq == 0) sum->first_seq = m.seq;
      sum->last_seq = m.seq;
      if (r.consumed) {
        ++sum->consumed;
        sum->consumed_bytes += m.end - m.start;
      } else {
        if (m.used != log::kPending) ++sum->bad_flags;
        ++sum->pending;
        sum->pending_bytes += m.end - m.start;
        if (sum->first_pending_seq == 0) sum->first_pending_seq = m.seq;
        sum->last_pending_seq = m.seq;
      }
      if (!visit(r)) {
        sum->complete = false;
        if (sc.key_seen()) sum->key_extractor = sc.key_spec();
        return Status::OK();
      }
    }
    MQ_RETURN_IF_ERROR(sc.io_status());
    const log::ScanProblem& p = sc.problem();
    if (p.kind == log::ScanProblem::Kind::kNone) break;
    if (sum->legacy && p.offset == 0)
      return Status::NotALog(path + ": not an mq message log: offset 0: " + p.reason + ". Check the path");
    uint64_t resume = 0;
    bool more = sc.Resync(p.offset + 1, sc.prev_seq(), &resume);
    MQ_RETURN_IF_ERROR(sc.io_status());
    // The unsynced tail a power cut left is a torn tail too, as the open treats it.
    const bool unsynced = more && sc.InUnsyncedTail(p.offset, sc.sync_marks());
    MQ_RETURN_IF_ERROR(sc.io_status());
    if (!more || unsynced) {
      sum->damage.push_back(LogDamage{p.offset, size - p.offset,
                                      unsynced ? p.reason + "; after the last synced offset the log's sync marks "
                                                            "prove: the unsynced tail of a power cut"
                                               : p.reason,
                                      true});
      break;
    }
    sum->damage.push_back(LogDamage{p.offset, resume - p.offset, p.reason, false});
    sc.Reset(resume, sc.prev_seq(), true);
  }
  if (sc.key_seen()) sum->key_extractor = sc.key_spec();
  return Status::OK();
}

static Status InspectIndexInto(const std::string& log_path, const LogSummary& log, const InspectOptions& options,
                               IndexInfo* info) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  *info = IndexInfo{};
  info->path = IndexPathFor(log_path);
  std::unique_ptr<Directory> dir;
  MQ_RETURN_IF_ERROR(OpenDirOf(env, log_path, &dir));
  FileInfo fi;
  MQ_ASSIGN_OR_RETURN(fi, dir->Stat(BaseName(info->path)));
  if (!fi.exists) return Status::OK();
  std::unique_ptr<Index> idx;
  Status s = Index::Open(info->path, true, 0, &idx, dir->native_handle());
  // No permission is not damage: say so, rather than "unreadable".
  if (s.sys_errno() == EACCES || s.sys_errno() == EPERM)
    return Status::IOError(info->path + ": cannot open the index", s.sys_errno(),
                           "run as the queue's owner or root (this is a permission problem, not damage)");
  if (!s.ok()) {
    info->state = IndexInfo::State::kUnreadable;
    info->detail = s.message();
    return Status::OK();
  }
  Index::Read r(idx.get());
  IndexMeta meta;
  bool present = false;
  s = r.Begin();
  if (s.ok()) s = r.GetMeta(&meta, &present);
  if (!s.ok() || !present) {
    info->state = IndexInfo::State::kStale;
    info->detail = s.ok() ? "it has no meta record" : s.message();
    return Status::OK();
  }
  info->applied = meta.applied;
  info->entries = r.Entries();
  info->extractor = meta.extractor;
  info->clean = meta.clean;
  info->synced_log = meta.synced_log;
  auto stale = [&](std::string why) {
    info->state = IndexInfo::State::kStale;
    info->detail = std::move(why) + "; the next writable open rebuilds it";
    return Status::OK();
  };
  if (!IndexMeta::Known(meta.version)) return stale("index format version " + std::to_string(meta.version));
  if (!meta.valid) return stale("a rebuild did not finish");
  if (log.legacy) {
    FileInfo li;
    MQ_ASSIGN_OR_RETURN(li, dir->Stat(BaseName(log_path)));
    if (meta.log_id != 0 || meta.log_dev != li.device || meta.log_ino != li.inode)
      return stale("it was built for another log file");
  } else if (meta.log_id != log.log_id) {
    return stale("it was built for another log file (log id differs)");
  }
  // As the open decides (store_open.cc, SurvivesPowerCut): an index whose
  // last commit covers only synced log bytes outlives a power cut.
  if (!meta.clean && meta.boot_id != env->BootId() && (log.legacy || !CoversOnlySyncedLog(meta)))
    return stale("the machine restarted since it was last written unsynced");
  if (meta.applied > log.file_bytes) return stale("it covers more bytes than the log has");
  if (std::string why; !IndexProvesLogFlags(meta, log.legacy, log.session, dir.get(), BaseName(log_path), &why))
    return stale(why);
  info->behind_bytes = log.file_bytes - meta.applied;
  info->state = info->behind_bytes == 0 ? IndexInfo::State::kCurrent : IndexInfo::State::kBehind;
  return Status::OK();
}


static Status VerifyIndexInto(const std::string& log_path, const InspectOptions& options,
                              std::vector<std::string>* problems) {
  std::string ipath = IndexPathFor(log_path);
  Env* env = options.env != nullptr ? options.env : Env::Default();
  std::unique_ptr<Directory> dir;
  MQ_RETURN_IF_ERROR(OpenDirOf(env, log_path, &dir));
  std::unique_ptr<Index> idx;
  MQ_RETURN_IF_ERROR(Index::Open(ipath, true, 0, &idx, dir->native_handle()));
  Index::Read r(idx.get());
  MQ_RETURN_IF_ERROR(r.Begin());
  IndexMeta meta;
  bool present = false;
  MQ_RETURN_IF_ERROR(r.GetMeta(&meta, &present));
  const uint64_t applied = present ? meta.applied : 0;
  MQ_RETURN_IF_ERROR(r.Seek(0));
  Status cursor_status;
  auto entry_at = [&](uint64_t seq) { return std::to_string(seq); };
  LogSummary sum;
  Status s = ScanLogInto(log_path, options, [&](const LogMessage& rec) {
    while (cursor_status.ok() && r.Valid() && r.seq() < rec.seq) {
      problems->push_back(ipath + ": lists message " + entry_at(r.seq()) + " at offset " +
                          std::to_string(r.loc().msg_offset) + ", which the log does not hold");
      cursor_status = r.Next();
    }
    if (!cursor_status.ok()) return false;
    if (r.Valid() && r.seq() == rec.seq) {
      if (!rec.consumed && (r.loc().msg_offset != rec.msg_offset || r.loc().size != rec.payload.size()))
        problems->push_back(ipath + ": message " + entry_at(rec.seq) + " is at offset " +
                            std::to_string(rec.msg_offset) + " in the log but the index says " +
                            std::to_string(r.loc().msg_offset));
      // An entry for a consumed message is expected after a crash: it is
      // dropped the first time a receive meets it.
      cursor_status = r.Next();
    } else if (!rec.consumed && rec.end <= applied) {
      problems->push_back(ipath + ": pending message " + entry_at(rec.seq) + " at offset " +
                          std::to_string(rec.msg_offset) + " is missing from the index");
    }
    return cursor_status.ok();
  }, &sum);
  MQ_RETURN_IF_ERROR(s);
  MQ_RETURN_IF_ERROR(cursor_status);
  while (r.Valid()) {
    if (r.loc().msg_offset < sum.file_bytes)
      problems->push_back(ipath + ": lists message " + entry_at(r.seq()) + " at offset " +
                          std::to_string(r.loc().msg_offset) + ", which the log does not hold");
    MQ_RETURN_IF_ERROR(r.Next());
  }
  return Status::OK();
}

pid_t QueueLockHolder(const std::string& log_path, Env* env) {
  if (env == nullptr) env = Env::Default();
  std::unique_ptr<Directory> dir;
  if (!env->OpenDirectory(DirName(log_path)).MoveTo(&dir).ok()) return 0;
  return dir->LockHolder(BaseName(LockPathFor(log_path)));
}

Result<LogSummary> ScanLog(const std::string& path, const InspectOptions& options,
                           const std::function<bool(const LogMessage&)>& visit) {
  LogSummary summary;
  MQ_RETURN_IF_ERROR(ScanLogInto(path, options, visit, &summary));
  return summary;
}

Result<IndexInfo> InspectIndex(const std::string& log_path, const LogSummary& log, const InspectOptions& options) {
  IndexInfo info;
  MQ_RETURN_IF_ERROR(InspectIndexInto(log_path, log, options, &info));
  return info;
}

Result<std::vector<std::string>> VerifyIndex(const std::string& log_path, const InspectOptions& options) {
  std::vector<std::string> problems;
  MQ_RETURN_IF_ERROR(VerifyIndexInto(log_path, options, &problems));
  return problems;
}

}  // namespace mq
