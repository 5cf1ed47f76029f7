// The inbound side's durable record of delivered JetStream messages for one
// local actor: the stream sequences confirmed by the actor's mailbox,
// fdatasync'ed before they are acked to JetStream, so that a redelivery
// (after a bridge crash, a lost ack, a server restart, a lost consumer) is
// recognised and not delivered twice (docs/bridge.md, "Inbound").
//
// One file per (stream incarnation, actor),
// <dir>/<stream>-<created ns>.<actor>.delivered, so that a stream deleted
// and created again (its sequences start over) is never matched against the
// old one's records. Format: 8-byte little-endian values, appended. A value
// with the top bit set is a floor F (the low 63 bits): every sequence of
// this actor up to F was delivered (the consumer's ack floor when the record
// was compacted); the others are single sequences above it. A torn last
// record (a crash mid-append) is cut at open (it was never fsynced, so never
// acked).
//
// Bounded: past `compact_above` sequences above the floor, Compact rewrites
// the file as the new floor plus what lies above it (a new file, synced,
// renamed over the old one, the directory synced).
//
// Every byte goes through an mq::Env (the store's I/O seam), so a test can
// crash it at any operation and simulate a power loss (tests/fault_env.h;
// tests/bridge_record_crash_test.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>

#include "mq/env.h"
#include "mq/status.h"

namespace mq::bridge {

class DeliveredLog {
 public:
  static constexpr uint64_t kFloorBit = uint64_t{1} << 63;
  // Opens (creating it O_EXCL|O_NOFOLLOW, then syncing `dir`) the record.
  static Result<std::unique_ptr<DeliveredLog>> Open(const std::string& dir, const std::string& name,
                                                    Env* env = Env::Default());
  ~DeliveredLog();
  DeliveredLog(const DeliveredLog&) = delete;
  DeliveredLog& operator=(const DeliveredLog&) = delete;

  bool Contains(uint64_t stream_seq) const { return stream_seq <= floor_ || seen_.count(stream_seq) != 0; }
  // Appends the sequences and fdatasyncs them: durable when OK. (After a
  // compaction whose directory sync failed, it syncs the directory first.)
  Status Record(std::span<const uint64_t> stream_seqs);
  // Raises the floor to `floor` (every sequence of this actor up to it is
  // delivered and acked) and rewrites the file without what lies under it.
  // A crash leaves either the old file or the new one whole.
  Status Compact(uint64_t floor);
  uint64_t floor() const { return floor_; }
  size_t size() const { return seen_.size(); }  // sequences above the floor
  const std::string& path() const { return path_; }

 private:
  DeliveredLog(std::unique_ptr<Directory> dir, std::unique_ptr<File> file, std::string name)
      : dir_(std::move(dir)), file_(std::move(file)), name_(std::move(name)), path_(dir_->PathOf(name_)) {}
  std::unique_ptr<Directory> dir_;
  std::unique_ptr<File> file_;
  std::string name_, path_;
  uint64_t size_ = 0;           // whole records in the file: the next append goes here
  bool dir_unsynced_ = false;   // a compaction's rename is not yet durable
  uint64_t floor_ = 0;
  std::unordered_set<uint64_t> seen_;
};

// Creates `path` as a directory (mode 0700) if missing, syncing its parent.
Status MakeDir(const std::string& path);
// fsyncs the directory at `path`.
Status SyncDir(const std::string& path);

}  // namespace mq::bridge
