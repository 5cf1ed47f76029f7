// Fuzz target: open and recover an arbitrary log file.
//
// The input is written to a file and read with mq::ScanLog, then opened with
// mq::Store::Open in each recovery mode, each time on a fresh copy. Nothing
// may crash, and (docs/log-format.md, "Recovery modes"; docs/design.md,
// invariant 4):
//   - ScanLog never changes the file, and its records and damage are ordered
//     and inside the file;
//   - a refused open changes nothing: the log keeps its bytes and no file is
//     left behind (not even the lock file it created);
//   - an open is refused exactly when ScanLog found damage the mode refuses
//     (tolerate-tail: damage in the middle; absolute: any damage or a bad used
//     flag; salvage: only a damaged file header with no framed message right
//     after it), or ScanLog refuses the file;
//   - after an open, the pending messages are those ScanLog listed, the log has
//     no damage left, and every byte that left the log is in a side file:
//     a torn tail in QUEUE.cut-X, each damaged region (and a damaged header)
//     in QUEUE.damaged-X;
//   - the recovered queue reopens with its index trusted, delivers exactly
//     those messages in order, takes a new one with a higher sequence number,
//     compacts, and passes VerifyIndex.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "fuzz_targets.h"
#include "mq/inspect.h"
#include "mq/store.h"

namespace mq::fuzz {
namespace {

// StoreOptions' default maximum; ScanLog gets the same so both judge a size
// field alike.
constexpr uint64_t kMaxMessage = 64u << 20;
// docs/log-format.md, "File header": the header record's size.
constexpr size_t kHeaderBytes = 56;

// A log's bytes with its session stamp (a log with a header) read as zero.
std::string WithoutStamp(std::string bytes, const LogSummary& sum) {
  if (!sum.legacy && bytes.size() >= kHeaderBytes) bytes.replace(48, 4, 4, '\0');
  return bytes;
}

struct Rec {
  uint64_t seq = 0;
  uint64_t start = 0;
  bool framed = false;
  int32_t used = 0;
  std::string payload;
};

struct Scanned {
  Status status;
  LogSummary sum;
  std::vector<Rec> recs;
};

using PendingList = std::vector<std::pair<uint64_t, std::string>>;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FUZZ_CHECK(in.good(), "cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  FUZZ_CHECK(out.good(), "cannot write " + path);
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::string Join(const std::set<std::string>& s) {
  std::string out;
  for (const std::string& n : s) out += (out.empty() ? "" : " ") + n;
  return out;
}

// The first 56 bytes of a log the store creates: an intact header.
const std::string& IntactHeader() {
  static const std::string header = [] {
    const std::string dir = ScratchDir() + "/header";
    std::filesystem::create_directories(dir);
    std::unique_ptr<Store> st;
    Status s = Store::Open(dir + "/q", StoreOptions()).MoveTo(&st);
    FUZZ_CHECK(s.ok(), "creating a log: " + s.ToString());
    FUZZ_CHECK(st->Close().ok(), "closing a new log");
    std::string h = ReadAll(dir + "/q");
    FUZZ_CHECK(h.size() == kHeaderBytes, "a new log is not just its header");
    return h;
  }();
  return header;
}

Scanned Scan(const std::string& path) {
  Scanned r;
  InspectOptions io;
  io.max_message_size = kMaxMessage;
  r.status = ScanLog(
      path, io,
      [&](const LogMessage& rec) {
        r.recs.push_back(Rec{rec.seq, rec.start, rec.framed, rec.used, std::string(rec.payload)});
        return true;
      }).MoveTo(&r.sum);
  return r;
}

// "seq@len ..." of a pending list, for a failure message.
std::string Describe(const PendingList& p) {
  std::string out;
  for (const auto& [seq, payload] : p) out += (out.empty() ? "" : " ") + std::to_string(seq) + "@" + std::to_string(payload.size());
  return "[" + out + "]";
}

PendingList Pending(const Scanned& s) {
  PendingList p;
  for (const Rec& r : s.recs)
    if (r.used != 1) p.emplace_back(r.seq, r.payload);
  return p;
}

// What ScanLog reports is self-consistent and inside the file.
void CheckSummary(const Scanned& s, uint64_t file_size) {
  const LogSummary& sum = s.sum;
  FUZZ_CHECK(sum.file_bytes == file_size, "ScanLog: file_bytes");
  FUZZ_CHECK(sum.messages == s.recs.size(), "ScanLog: messages counted differ from messages visited");
  FUZZ_CHECK(sum.pending + sum.consumed == sum.messages, "ScanLog: pending + consumed != messages");
  for (size_t i = 1; i < s.recs.size(); ++i)
    FUZZ_CHECK(s.recs[i].seq > s.recs[i - 1].seq, "ScanLog: sequence numbers do not increase");
  uint64_t prev_end = 0;
  for (size_t i = 0; i < sum.damage.size(); ++i) {
    const LogDamage& d = sum.damage[i];
    FUZZ_CHECK(d.bytes > 0 && d.offset + d.bytes <= file_size, "ScanLog: damage region outside the file");
    FUZZ_CHECK(d.offset >= prev_end, "ScanLog: damage regions overlap or are out of order");
    FUZZ_CHECK(!d.tail || (i + 1 == sum.damage.size() && d.offset + d.bytes == file_size),
               "ScanLog: a torn tail that is not at the end");
    prev_end = d.offset + d.bytes;
  }
}

class Reports : public Reporter {
 public:
  explicit Reports(std::string log) : log_(std::move(log)) {}
  void Corruption(const std::string& file, uint64_t offset, uint64_t bytes, const std::string& reason) override {
    FUZZ_CHECK(file == log_, "Reporter: corruption reported for another file: " + file);
    FUZZ_CHECK(!reason.empty(), "Reporter: corruption without a reason");
    (void)offset;
    (void)bytes;
  }

 private:
  std::string log_;
};

StoreOptions Options(RecoveryMode mode, Reporter* rep) {
  StoreOptions so;
  so.sync = SyncPolicy::kNone;
  so.recovery = mode;
  so.create_if_missing = false;
  so.auto_compact = false;
  so.max_message_size = kMaxMessage;
  so.reporter = rep;
  return so;
}

// The recovered queue is a working queue: its index is trusted, it delivers
// exactly `pending` in order, appends above every earlier sequence number,
// compacts, and its index agrees with its log.
void ExerciseRecovered(const std::string& log, const Scanned& recovered, const PendingList& pending,
                       Reporter* rep) {
  const RecoveryMode mode =
      recovered.sum.bad_flags == 0 ? RecoveryMode::kAbsoluteConsistency : RecoveryMode::kTolerateTornTail;
  std::unique_ptr<Store> st;
  Status s = Store::Open(log, Options(mode, rep)).MoveTo(&st);
  FUZZ_CHECK(s.ok(), "reopening the recovered log in " + std::string(RecoveryModeName(mode)) +
                         " mode: " + s.ToString());
  FUZZ_CHECK(st->open_report().index_action == IndexAction::kTrusted,
             "the index of a cleanly closed queue is not trusted: " + DescribeIndexAction(st->open_report()));
  PendingList got;
  Message m;
  while (got.size() <= pending.size()) {
    s = st->FirstPending(&m);
    if (s.IsNotFound()) break;
    FUZZ_CHECK(s.ok(), "FirstPending: " + s.ToString());
    got.emplace_back(m.seq, m.payload);
    s = st->Consume(m.seq);
    FUZZ_CHECK(s.ok(), "Consume: " + s.ToString());
  }
  FUZZ_CHECK(got == pending, "the recovered queue delivers other messages than ScanLog listed");
  uint64_t seq = 0;
  s = st->Append("after recovery").MoveTo(&seq);
  FUZZ_CHECK(s.ok(), "Append after recovery: " + s.ToString());
  FUZZ_CHECK(seq > recovered.sum.last_seq && seq >= recovered.sum.seq_floor,
             "a new message got sequence number " + std::to_string(seq) + ", not above the log's last " +
                 std::to_string(recovered.sum.last_seq));
  CompactionResult cr;
  s = st->Compact().MoveTo(&cr);
  FUZZ_CHECK(s.ok(), "Compact after recovery: " + s.ToString());
  s = st->FirstPending(&m);
  FUZZ_CHECK(s.ok() && m.seq == seq && m.payload == "after recovery", "the message appended before compaction");
  s = st->Close();
  FUZZ_CHECK(s.ok(), "Close: " + s.ToString());
  st.reset();
  Scanned final_scan = Scan(log);
  FUZZ_CHECK(final_scan.status.ok() && final_scan.sum.damage.empty() && final_scan.sum.pending == 1 &&
                 final_scan.sum.consumed == 0,
             "the compacted log is not one pending message");
  std::vector<std::string> problems;
  s = VerifyIndex(log, {}).MoveTo(&problems);
  FUZZ_CHECK(s.ok(), "VerifyIndex: " + s.ToString());
  FUZZ_CHECK(problems.empty(), "VerifyIndex: " + (problems.empty() ? std::string() : problems.front()));
}

}  // namespace

int LogRecovery(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string dir = ScratchDir() + "/recovery";
  std::filesystem::create_directories(dir);
  const std::string log = dir + "/q";
  Reports rep(log);

  ClearDir(dir);
  WriteAll(log, input);
  const Scanned before = Scan(log);
  FUZZ_CHECK(ReadAll(log) == input, "ScanLog changed the file");
  if (before.status.ok()) CheckSummary(before, input.size());

  // Salvage also opens a log whose file header is damaged, if a framed
  // message checks out right after it (docs/log-format.md, "Recovery modes"):
  // the rest is then read as behind an intact header, which `alt` shows.
  Scanned alt;
  bool header_salvage = false;
  if (before.status.IsCorruption() && input.size() > kHeaderBytes) {
    WriteAll(log, IntactHeader() + input.substr(kHeaderBytes));
    alt = Scan(log);
    header_salvage = alt.status.ok() && !alt.recs.empty() && alt.recs[0].start == kHeaderBytes &&
                     alt.recs[0].framed;
    if (header_salvage) CheckSummary(alt, input.size());
  }

  const RecoveryMode modes[] = {RecoveryMode::kTolerateTornTail, RecoveryMode::kAbsoluteConsistency,
                                RecoveryMode::kSalvage};
  for (RecoveryMode mode : modes) {
    const std::string m = RecoveryModeName(mode);
    const bool salvage = mode == RecoveryMode::kSalvage;
    const Scanned& ref = salvage && header_salvage ? alt : before;  // what the store should see
    bool middle = false;
    for (const LogDamage& d : ref.sum.damage) middle = middle || !d.tail;
    bool expect_open = before.status.ok() || (salvage && header_salvage);
    if (mode == RecoveryMode::kTolerateTornTail) expect_open = expect_open && !middle;
    if (mode == RecoveryMode::kAbsoluteConsistency)
      expect_open = expect_open && ref.sum.damage.empty() && ref.sum.bad_flags == 0;

    ClearDir(dir);
    WriteAll(log, input);
    std::unique_ptr<Store> st;
    Status s = Store::Open(log, Options(mode, &rep)).MoveTo(&st);
    if (!s.ok()) {
      FUZZ_CHECK(s.code() == Status::Code::kCorruption || s.code() == Status::Code::kNotALog ||
                     s.code() == Status::Code::kUnsupported,
                 m + ": open refused with an unexpected error: " + s.ToString());
      FUZZ_CHECK(ReadAll(log) == input, m + ": a refused open changed the log: " + s.ToString());
      const std::set<std::string> left = Entries(dir);
      FUZZ_CHECK(left == (std::set<std::string>{"q"}),
                 m + ": a refused open left files behind: " + Join(left));
      FUZZ_CHECK(!expect_open, m + ": open refused a log this mode accepts: " + s.ToString());
      continue;
    }
    FUZZ_CHECK(expect_open, m + ": opened a log this mode refuses (ScanLog: " + before.status.ToString() + ")");
    s = st->Close();
    FUZZ_CHECK(s.ok(), m + ": Close after recovery: " + s.ToString());
    st.reset();

    const std::string after = ReadAll(log);
    const Scanned recovered = Scan(log);
    const PendingList pending = Pending(ref);
    FUZZ_CHECK(recovered.status.ok(), m + ": ScanLog of the recovered log: " + recovered.status.ToString());
    FUZZ_CHECK(recovered.sum.damage.empty(), m + ": the recovered log still has damage");
    FUZZ_CHECK(Pending(recovered) == pending, m + ": recovery changed the pending messages: ScanLog listed " +
                                                  Describe(pending) + ", the recovered log holds " +
                                                  Describe(Pending(recovered)));

    // Where every byte of the input went.
    std::set<std::string> expect_files = {"q", "q.lock", "q.idx", "q.idx-lock"};
    auto expect_side = [&](const std::string& side, const std::string& bytes) {
      FUZZ_CHECK(Entries(dir).count(side) == 1, m + ": no side file " + side);
      FUZZ_CHECK(ReadAll(dir + "/" + side) == bytes, m + ": " + side + " does not hold the bytes taken out");
      expect_files.insert(side);
    };
    const bool rewritten = middle || (salvage && header_salvage);
    if (salvage && header_salvage) expect_side("q.damaged-0", input.substr(0, kHeaderBytes));
    if (input.empty()) {
      FUZZ_CHECK(recovered.sum.messages == 0, m + ": messages in a log made from an empty file");
    } else if (!rewritten && ref.sum.damage.empty()) {
      // Every writable open raises the header's session stamp (bytes 48..51;
      // docs/log-format.md, "File header"): nothing else may change.
      FUZZ_CHECK(WithoutStamp(after, ref.sum) == WithoutStamp(input, ref.sum),
                 m + ": open changed a log that has no damage");
    } else if (!middle) {
      // A torn tail alone is cut into QUEUE.cut-X (then, with a damaged
      // header, the rest is rewritten behind a new one).
      if (!ref.sum.damage.empty()) {
        const LogDamage& d = ref.sum.damage.back();
        if (!rewritten)
          FUZZ_CHECK(WithoutStamp(after, ref.sum) == WithoutStamp(input.substr(0, d.offset), ref.sum),
                     m + ": the log is not its bytes before the torn tail");
        expect_side("q.cut-" + std::to_string(d.offset), input.substr(d.offset));
      }
    } else {
      for (const LogDamage& d : ref.sum.damage)
        expect_side("q.damaged-" + std::to_string(d.offset), input.substr(d.offset, d.bytes));
    }
    if (rewritten) FUZZ_CHECK(recovered.sum.consumed == 0, m + ": the salvaged log kept consumed messages");
    const std::set<std::string> files = Entries(dir);
    FUZZ_CHECK(files == expect_files, m + ": files after recovery: " + Join(files) + "; expected " +
                                          Join(expect_files));

    // Tolerate-tail and absolute leave the same log when both open; salvage
    // differs only when it rewrote the log.
    if (mode == RecoveryMode::kTolerateTornTail || (salvage && rewritten))
      ExerciseRecovered(log, recovered, pending, &rep);
  }
  return 0;
}

}  // namespace mq::fuzz
