// Bad input: every refused open names the file, says what is wrong, and
// leaves the file byte for byte as it was, with no index or side file left
// behind (docs/log-format.md, "Telling formats apart", "Format versions";
// docs/design.md, "Recovery"). The read-only path (mq::ScanLog, used by
// mqtool) refuses the same inputs the same way.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/log_format.h"
#include "mq/inspect.h"
#include "mq/store.h"
#include "format/record.h"
#include "test_util.h"

namespace mq {
namespace {

constexpr RecoveryMode kModes[] = {RecoveryMode::kTolerateTornTail, RecoveryMode::kAbsoluteConsistency,
                                   RecoveryMode::kSalvage};

StoreOptions Opts(RecoveryMode mode = RecoveryMode::kTolerateTornTail) {
  StoreOptions o;
  o.sync = SyncPolicy::kNone;
  o.recovery = mode;
  return o;
}

std::vector<std::string> DirNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  std::erase(names, "q.lock");  // the writer lock file is never deleted (design.md)
  return names;
}

bool Contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

class StoreBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = dir_.File("q"); }

  // Writes `bytes` as the queue file and expects every recovery mode to refuse
  // it with `code` and a message holding the path and each of `needles`.
  void ExpectRefused(const std::string& bytes, Status::Code code, const std::vector<std::string>& needles,
                     const std::vector<RecoveryMode>& modes = {std::begin(kModes), std::end(kModes)}) {
    test::WriteFileOrDie(path_, bytes);
    const std::vector<std::string> names = DirNames(dir_.path());
    for (RecoveryMode mode : modes) {
      SCOPED_TRACE(RecoveryModeName(mode));
      std::unique_ptr<Store> s;
      Status st = Store::Open(path_, Opts(mode)).MoveTo(&s);
      EXPECT_EQ(st.code(), code) << st.ToString();
      EXPECT_TRUE(Contains(st.message(), path_)) << st.ToString();
      for (const std::string& n : needles) EXPECT_TRUE(Contains(st.message(), n)) << st.ToString();
      EXPECT_EQ(s, nullptr);
      EXPECT_TRUE(test::ReadFileOrDie(path_) == bytes) << "the refused file was changed";
      EXPECT_EQ(DirNames(dir_.path()), names) << "a refused open left files behind";
    }
    LogSummary sum;
    Status st = ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum);
    EXPECT_EQ(st.code(), code) << "ScanLog: " << st.ToString();
    EXPECT_TRUE(Contains(st.message(), path_)) << st.ToString();
  }

  std::string Header(uint32_t version, uint32_t flags) {
    std::string h;
    log::EncodeHeader(log::Header{version, flags, 42, 1, 0}, &h);
    return h;
  }

  test::TempDir dir_;
  std::string path_;
};

TEST_F(StoreBadInputTest, MissingQueueWithoutCreateIsNotFoundAndCreatesNothing) {
  StoreOptions o = Opts();
  o.create_if_missing = false;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, o).MoveTo(&s);
  EXPECT_TRUE(st.IsNotFound()) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), path_)) << st.ToString();
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path())) << "not even a lock file";
  LogSummary sum;
  EXPECT_TRUE(ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum).IsNotFound());
}

TEST_F(StoreBadInputTest, DirectoryIsRefusedAndNothingIsCreatedBesideIt) {
  std::filesystem::create_directory(path_);
  for (RecoveryMode mode : kModes) {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts(mode)).MoveTo(&s);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
    EXPECT_TRUE(Contains(st.message(), path_ + ": is a directory")) << st.ToString();
  }
  EXPECT_EQ(DirNames(dir_.path()), std::vector<std::string>{"q"});
  EXPECT_FALSE(test::FileExists(path_ + ".lock"));
  EXPECT_TRUE(std::filesystem::is_empty(path_));
  LogSummary sum;
  EXPECT_EQ(ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum).code(),
            Status::Code::kInvalidArgument);
}

TEST_F(StoreBadInputTest, FifoIsRefusedAsNotARegularFile) {
  ASSERT_EQ(::mkfifo(path_.c_str(), 0600), 0);
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, Opts()).MoveTo(&s);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), path_ + ": is not a regular file")) << st.ToString();
}

TEST_F(StoreBadInputTest, EmptyPathIsAnInvalidArgument) {
  std::unique_ptr<Store> s;
  EXPECT_EQ(Store::Open("", Opts()).MoveTo(&s).code(), Status::Code::kInvalidArgument);
}

TEST_F(StoreBadInputTest, TextFileIsNotAnMqLogAndTheErrorShowsWhatOffsetZeroHolds) {
  ExpectRefused("hello, this is not a queue\n", Status::Code::kNotALog,
                {"not an mq message log", "offset 0 holds 0x6c6c6568"});
}

TEST_F(StoreBadInputTest, RandomBytesAreNotAnMqLog) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    std::string bytes(static_cast<size_t>(1 + rng() % 5000), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    ExpectRefused(bytes, Status::Code::kNotALog, {"not an mq message log"});
  }
}

TEST_F(StoreBadInputTest, FileShorterThanARecordHeaderIsNotAnMqLog) {
  for (size_t n = 1; n < 8; ++n) {
    SCOPED_TRACE(n);
    ExpectRefused(std::string(n, '\0'), Status::Code::kNotALog, {"not an mq message log"});
  }
}

TEST_F(StoreBadInputTest, OriginalRecordWhoseSizeRunsPastTheEndIsNotAnMqLog) {
  std::string rec("\0\0\0\0\x40\0\0\0abc", 11);  // claims 64 payload bytes, has 3
  ExpectRefused(rec, Status::Code::kNotALog, {"not an mq message log"});
}

TEST_F(StoreBadInputTest, HeaderCutShortIsRefusedAsCorruptionAtOffsetZero) {
  const std::string h = Header(1, 0);
  for (size_t n = 4; n < h.size(); n += 5) {
    SCOPED_TRACE(n);
    ExpectRefused(h.substr(0, n), Status::Code::kCorruption,
                  {"offset 0", "cut short (" + std::to_string(n) + " of 56 bytes)"});
  }
}

// Salvage repairs this case (store_recovery_test: ADamagedHeaderIsRefusedUnless...).
TEST_F(StoreBadInputTest, HeaderWithABadChecksumIsRefusedOutsideSalvageWithTheLogBehindIt) {
  std::string b = Header(1, 0);
  log::AppendFramed(&b, 1, "a message that is fine");
  b[40] ^= 1;  // the creation time, covered by the header checksum
  ExpectRefused(b, Status::Code::kCorruption, {"offset 0", "file header checksum mismatch"},
                {RecoveryMode::kTolerateTornTail, RecoveryMode::kAbsoluteConsistency});
}

TEST_F(StoreBadInputTest, HeaderWithADamagedMagicIsRefused) {
  std::string b = Header(1, 0);
  b[9] = 'X';
  ExpectRefused(b, Status::Code::kCorruption, {"offset 8", "magic"});
}

TEST_F(StoreBadInputTest, LogFromAFutureFormatVersionIsUnsupportedAndNamesBothVersions) {
  std::string b = Header(2, 0);
  log::AppendFramed(&b, 1, "from the future");
  ExpectRefused(b, Status::Code::kUnsupported, {"format version 2", "versions up to 1", "newer mq"});
}

TEST_F(StoreBadInputTest, HeaderWithFlagsThisVersionDoesNotKnowIsUnsupported) {
  ExpectRefused(Header(1, 4), Status::Code::kUnsupported, {"flags", "newer mq"});
}

TEST_F(StoreBadInputTest, HeaderWithVersionZeroIsCorruption) {
  ExpectRefused(Header(0, 0), Status::Code::kCorruption, {"version 0"});
}

// Runs `fn` in a child process as user nobody (65534) when we are root, so
// that file permissions apply (CI runs as root); otherwise runs it here.
// fn returns an exit code; the child's is returned.
int AsUnprivileged(const std::function<int()>& fn) {
  if (::geteuid() != 0) return fn();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
    ::_exit(fn());
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 101;
  return WEXITSTATUS(status);
}

TEST_F(StoreBadInputTest, QueueFileWithoutReadPermissionIsAnIOErrorNamingItAndStaysUnchanged) {
  std::string b = Header(1, 0);
  log::AppendFramed(&b, 1, "secret");
  test::WriteFileOrDie(path_, b);
  ASSERT_EQ(::chmod(path_.c_str(), 0200), 0);  // write only: no read for anyone but root
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0777), 0);  // others may make the lock file
  // The child reports through a file, as text: "<code> <message>".
  const std::string report = dir_.File("report");
  int rc = AsUnprivileged([&] {
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts()).MoveTo(&s);
    LogSummary sum;
    Status scan = ScanLog(path_, InspectOptions{}, [](const LogMessage&) { return true; }).MoveTo(&sum);
    FILE* f = std::fopen(report.c_str(), "w");
    if (f == nullptr) return 3;
    std::fprintf(f, "%d %d %s\n%s\n", static_cast<int>(st.code()), st.sys_errno(), st.message().c_str(),
                 scan.message().c_str());
    std::fclose(f);
    return st.ok() ? 1 : 0;
  });
  ASSERT_EQ(rc, 0) << "the unprivileged open did not fail (or the child could not report)";
  const std::string text = test::ReadFileOrDie(report);
  EXPECT_EQ(text.rfind(std::to_string(static_cast<int>(Status::Code::kIOError)) + " " + std::to_string(EACCES) + " ", 0),
            0u)
      << text;
  EXPECT_TRUE(Contains(text, path_ + ":")) << text;
  EXPECT_TRUE(Contains(text, "Permission denied")) << text;
  EXPECT_TRUE(Contains(text, "run as its owner")) << "says what to do: " << text;
  EXPECT_TRUE(Contains(text, "cannot read it: Permission denied; run as the queue's owner or root")) << "ScanLog's message: " << text;
  EXPECT_TRUE(test::ReadFileOrDie(path_) == b);
  EXPECT_FALSE(test::FileExists(path_ + ".idx"));
}

TEST_F(StoreBadInputTest, QueueInADirectoryWithoutWriteAccessNamesTheLockFileAndWhatToDo) {
  std::string b = Header(1, 0);
  log::AppendFramed(&b, 1, "m");
  test::WriteFileOrDie(path_, b);
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);        // the log itself is open to all,
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0555), 0);  // but no one may create the lock file
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int rc = AsUnprivileged([&] {
    ::close(fds[0]);
    std::unique_ptr<Store> s;
    Status st = Store::Open(path_, Opts()).MoveTo(&s);
    std::string text = std::to_string(static_cast<int>(st.code())) + " " + st.message();
    return ::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()) && !st.ok() ? 0 : 1;
  });
  ::close(fds[1]);
  std::string text;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0700), 0);
  ASSERT_EQ(rc, 0) << text;
  EXPECT_EQ(text.rfind(std::to_string(static_cast<int>(Status::Code::kIOError)) + " ", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, path_ + ".lock: cannot open the writer lock of queue " + path_)) << text;
  EXPECT_TRUE(Contains(text, "write access to its directory")) << text;
  EXPECT_TRUE(test::ReadFileOrDie(path_) == b);
}

TEST_F(StoreBadInputTest, MessageLargerThanTheQueueMaximumIsTooLargeAndNothingIsWritten) {
  StoreOptions o = Opts();
  o.max_message_size = 100;
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append(std::string(100, 'x')).MoveTo(&seq).ok()) << "the maximum itself is allowed";
  ASSERT_TRUE(s->Sync().ok());
  const std::string before = test::ReadFileOrDie(path_);
  Status st = s->Append(std::string(101, 'x')).MoveTo(&seq);
  EXPECT_EQ(st.code(), Status::Code::kTooLarge) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), path_)) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "101 bytes")) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "maximum of 100")) << st.ToString();
  std::vector<std::string_view> batch = {"small", std::string_view(before.data(), 101), "small"};
  EXPECT_EQ(s->AppendBatch(batch).MoveTo(&seq).code(), Status::Code::kTooLarge) << "one too large refuses the batch";
  ASSERT_TRUE(s->Sync().ok());
  EXPECT_TRUE(test::ReadFileOrDie(path_) == before);
  EXPECT_EQ(s->last_seq(), 1u);
  ASSERT_TRUE(s->Append("fine").MoveTo(&seq).ok());
  EXPECT_EQ(seq, 2u);
}

TEST_F(StoreBadInputTest, MaximumMessageSizeAboveTheFormatLimitIsAnInvalidArgument) {
  StoreOptions o = Opts();
  o.max_message_size = uint64_t{1} << 31;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path_, o).MoveTo(&s);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_FALSE(test::FileExists(path_));
}

TEST_F(StoreBadInputTest, ReopeningWithASmallerMaximumKeepsTheLargerMessagesAlreadyStored) {
  std::unique_ptr<Store> s;
  ASSERT_TRUE(Store::Open(path_, Opts()).MoveTo(&s).ok());
  uint64_t seq = 0;
  ASSERT_TRUE(s->Append(std::string(500, 'L')).MoveTo(&seq).ok());
  ASSERT_TRUE(s->Append("s").MoveTo(&seq).ok());
  ASSERT_TRUE(s->Append(std::string(400, 'M')).MoveTo(&seq).ok());
  ASSERT_TRUE(s->Close().ok());
  const std::string before = test::ReadFileOrDie(path_);
  std::filesystem::remove(path_ + ".idx");  // the whole log is scanned
  StoreOptions o = Opts();
  o.max_message_size = 100;
  Status st = Store::Open(path_, o).MoveTo(&s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(s->open_report().side_files.empty());
  Message m;
  ASSERT_TRUE(s->Get(3, &m).ok());
  EXPECT_EQ(m.payload, std::string(400, 'M'));
  EXPECT_EQ(s->Stats().pending, 3u);
  ASSERT_TRUE(s->Close().ok());
  std::string now = test::ReadFileOrDie(path_);
  ASSERT_EQ(now.size(), before.size());
  now.replace(48, 4, before.substr(48, 4));  // the open's session stamp (docs/log-format.md, "File header")
  EXPECT_TRUE(now == before) << "no message byte changed";
}

}  // namespace
}  // namespace mq
