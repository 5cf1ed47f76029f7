// Guarded mappings (store/src/port/sigbus_guard.h): a touch of a page that another
// process cut from the file completes without reaching the file and is
// reported; every other SIGBUS goes where it would have gone without us.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "port/sigbus_guard.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

const size_t kPage = static_cast<size_t>(::sysconf(_SC_PAGESIZE));

// A file of `pages` pages of 'x', mapped shared and writable.
struct MappedFile {
  MappedFile(const std::string& file, size_t pages) : path(file), len(pages * kPage) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string bytes(len, 'x');
    EXPECT_EQ(::pwrite(fd, bytes.data(), len, 0), static_cast<ssize_t>(len));
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    map = static_cast<char*>(p);
  }
  ~MappedFile() {
    ::munmap(map, len);
    ::close(fd);
  }
  uint64_t Size() const {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  std::string path;
  size_t len;
  int fd = -1;
  char* map = nullptr;
};

void ExitOnSigbus(int) { ::_exit(42); }

// In a death test's child: guards one mapping, then touches a page cut from
// another, unguarded one. Returns only if that touch did not end the process.
void TouchACutPageOutsideEveryGuardedRange(const test::TempDir& dir) {
  MappedFile guarded(dir.File("guarded"), 1);
  MappedFile other(dir.File("other"), 2);
  if (sigbus_guard::Register(guarded.map, guarded.len) < 0) ::_exit(3);
  if (::ftruncate(other.fd, 0) != 0) ::_exit(4);
  other.map[kPage] = 'y';
}

TEST(SigbusGuard, ATouchOfAGuardedPageCutFromTheFileCompletesAndIsReportedWithoutReachingTheFile) {
  test::TempDir dir;
  MappedFile f(dir.File("log"), 3);
  const int slot = sigbus_guard::Register(f.map, f.len);
  ASSERT_GE(slot, 0);
  ASSERT_EQ(::ftruncate(f.fd, 100), 0);  // as another process would
  volatile char* page2 = f.map + 2 * kPage;
  page2[8] = 'y';  // without the guard: SIGBUS
  EXPECT_TRUE(sigbus_guard::TakeFault(slot));
  EXPECT_FALSE(sigbus_guard::TakeFault(slot)) << "a fault is reported once";
  EXPECT_EQ(f.Size(), 100u) << "the touch must not reach the file";
  sigbus_guard::Unregister(slot);
}

TEST(SigbusGuard, ATouchInsideTheFileReachesItAndIsNoFault) {
  test::TempDir dir;
  MappedFile f(dir.File("log"), 2);
  const int slot = sigbus_guard::Register(f.map, f.len);
  ASSERT_GE(slot, 0);
  f.map[kPage + 5] = 'y';
  EXPECT_FALSE(sigbus_guard::TakeFault(slot));
  char c = 0;
  ASSERT_EQ(::pread(f.fd, &c, 1, static_cast<off_t>(kPage + 5)), 1);
  EXPECT_EQ(c, 'y');
  sigbus_guard::Unregister(slot);
}

// The children start from the default action (a sanitizer may have put its
// own handler there), which is what the guard must hand such a SIGBUS to.
TEST(SigbusGuardDeathTest, ASigbusOutsideEveryGuardedRangeStillKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  EXPECT_EXIT(
      {
        ::signal(SIGBUS, SIG_DFL);
        TouchACutPageOutsideEveryGuardedRange(dir);
        ::_exit(0);
      },
      testing::KilledBySignal(SIGBUS), "");
}

TEST(SigbusGuardDeathTest, AnUnregisteredRangeIsNoLongerGuarded) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  EXPECT_EXIT(
      {
        ::signal(SIGBUS, SIG_DFL);
        MappedFile f(dir.File("log"), 2);
        const int slot = sigbus_guard::Register(f.map, f.len);
        if (slot < 0) ::_exit(3);
        sigbus_guard::Unregister(slot);
        if (::ftruncate(f.fd, 0) != 0) ::_exit(4);
        f.map[kPage] = 'y';
        ::_exit(0);
      },
      testing::KilledBySignal(SIGBUS), "");
}

TEST(SigbusGuardDeathTest, TheProgramsOwnEarlierHandlerStillGetsEverySigbusOutsideGuardedRanges) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  EXPECT_EXIT(
      {
        ::signal(SIGBUS, ExitOnSigbus);
        TouchACutPageOutsideEveryGuardedRange(dir);
        ::_exit(0);
      },
      testing::ExitedWithCode(42), "");
}

// A program that installs its own SIGBUS handler after the first store was
// opened: ranges are no longer guarded, and the store checks the file's size
// before each flag write instead, so a cut log still never reaches that
// handler.
TEST(SigbusGuardDeathTest, AfterTheProgramReplacesTheHandlerAStoreStillSurvivesACutLog) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  EXPECT_EXIT(
      {
        {
          MappedFile first(dir.File("first"), 1);
          const int slot = sigbus_guard::Register(first.map, first.len);
          if (slot < 0) ::_exit(3);
          sigbus_guard::Unregister(slot);
        }
        ::signal(SIGBUS, ExitOnSigbus);
        MappedFile f(dir.File("log"), 1);
        if (sigbus_guard::Register(f.map, f.len) >= 0) ::_exit(5);  // must refuse now
        const std::string p = dir.File("q");
        StoreOptions o;
        o.sync = SyncPolicy::kNone;
        o.auto_compact = false;
        std::unique_ptr<Store> s;
        if (!Store::Open(p, o).MoveTo(&s).ok()) ::_exit(6);
        uint64_t seq = 0;
        for (int i = 0; i < 100; ++i)
          if (!s->Append(std::string(100, 'm')).MoveTo(&seq).ok()) ::_exit(7);
        if (!s->Consume(1).ok()) ::_exit(8);
        if (::truncate(p.c_str(), 100) != 0) ::_exit(9);
        (void)s->Consume(100);
        (void)s->Close();
        ::_exit(0);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace mq
