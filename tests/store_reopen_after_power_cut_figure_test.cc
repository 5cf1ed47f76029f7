// A figure, not a check (issue 17, "Figures"): the time to reopen a log
// after a power cut, next to the time after a SIGKILL. The writer dies with
// its index unclean (written unsynced, in use) and a tail of `late`
// messages past what its index holds; then the store opens the log
//   - in the same boot (a kill: the index is trusted, the tail scanned into it);
//   - in another boot (a power cut: the writer's last index commit, its
//     open's, covers only log bytes that were synced, so the index is kept
//     and only the log after it is scanned; docs/design.md, "An index that
//     survives a power cut"; before, it was rebuilt from the whole log).
// It prints both; it asserts only that every message is there after each.
// MQ_REOPEN_FIGURE_MIB sets the log's size (default 16 MiB, 4 under a
// sanitizer; 1024 for the figure in docs/reliability.md),
// MQ_REOPEN_FIGURE_PAYLOAD the message size (default 1024 bytes).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "mq/store.h"
#include "test_util.h"

namespace mq {
namespace {

class OtherBootEnv final : public Env {
 public:
  Result<std::unique_ptr<Directory>> OpenDirectory(const std::string& d) override {
    return base_->OpenDirectory(d);
  }
  std::string BootId() override { return base_->BootId() + "-after-a-power-cut"; }
  uint64_t NowMicros() override { return base_->NowMicros(); }

 private:
  Env* base_ = Env::Default();
};

uint64_t EnvOr(const char* name, uint64_t dflt) {
  const char* e = std::getenv(name);
  const uint64_t v = e != nullptr ? std::strtoull(e, nullptr, 10) : 0;
  return v > 0 ? v : dflt;
}

constexpr int kLate = 1000;  // appended by the writer that dies, not in its index

class ReopenFigureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const uint64_t bytes = EnvOr("MQ_REOPEN_FIGURE_MIB", test::kSanitized ? 4 : 16) << 20;
    payload_ = EnvOr("MQ_REOPEN_FIGURE_PAYLOAD", 1024);
    StoreOptions o;
    o.sync = SyncPolicy::kNone;
    o.auto_compact = false;
    std::unique_ptr<Store> s;
    ASSERT_TRUE(Store::Open(path_, o).MoveTo(&s).ok());
    const std::string p(payload_, 'x');
    std::vector<std::string_view> batch(1024, p);
    while (messages_ * (payload_ + 28) < bytes) {
      uint64_t seq = 0;
      ASSERT_TRUE(s->AppendBatch(batch).MoveTo(&seq).ok());
      messages_ += batch.size();
    }
    ASSERT_TRUE(s->Close().ok());
    s.reset();
    // The writer that dies: sync=always, killed with its index in use.
    const pid_t pid = ::fork();
    if (pid == 0) {
      StoreOptions w;
      w.auto_compact = false;
      std::unique_ptr<Store> ws;
      if (!Store::Open(path_, w).MoveTo(&ws).ok()) ::_exit(1);
      std::vector<std::string_view> late(kLate, p);
      uint64_t seq = 0;
      if (!ws->AppendBatch(late).MoveTo(&seq).ok()) ::_exit(1);
      ::_exit(0);  // no Close: the index stays unclean
    }
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    messages_ += kLate;
    saved_log_ = test::ReadFileOrDie(path_);
    saved_index_ = test::ReadFileOrDie(path_ + ".idx");
  }

  // Opens the log as the dying writer left it; prints and returns the time.
  double TimedOpen(Env* env, const char* what) {
    test::WriteFileOrDie(path_, saved_log_);
    test::WriteFileOrDie(path_ + ".idx", saved_index_);
    StoreOptions o;
    o.env = env;
    o.auto_compact = false;
    std::unique_ptr<Store> s;
    const auto t0 = std::chrono::steady_clock::now();
    Status st = Store::Open(path_, o).MoveTo(&s);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) return ms;
    EXPECT_EQ(s->Stats().pending, messages_);
    double load[1] = {0};
    (void)::getloadavg(load, 1);
    std::printf("[ reopen ] %s: %.1f ms to open a %.1f MiB log of %llu messages of %llu bytes (%d past the index); "
                "index %s, %llu bytes scanned; load %.1f\n",
                what, ms, static_cast<double>(saved_log_.size()) / (1 << 20),
                static_cast<unsigned long long>(messages_), static_cast<unsigned long long>(payload_), kLate,
                DescribeIndexAction(s->open_report()).c_str(),
                static_cast<unsigned long long>(s->open_report().scanned_bytes), load[0]);
    EXPECT_TRUE(s->Close().ok());
    return ms;
  }

  test::TempDir dir_;
  std::string path_ = dir_.File("q");
  uint64_t payload_ = 0, messages_ = 0;
  std::string saved_log_, saved_index_;
};

TEST_F(ReopenFigureTest, PrintsTheReopenTimeAfterASigkillAndAfterAPowerCut) {
  TimedOpen(Env::Default(), "after a SIGKILL (same boot)");
  OtherBootEnv other_boot;
  TimedOpen(&other_boot, "after a power cut (another boot)");
}

}  // namespace
}  // namespace mq
