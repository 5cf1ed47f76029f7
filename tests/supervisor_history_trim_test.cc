// The supervisor's restart history stays bounded (docs/supervision.md, "The
// history and its trimming"): past History::kTrimAt exit records, all but the
// newest kKeep are folded into one BASE record per child, so restart counts
// and last exits survive, the newest exits stay readable verbatim, and a
// crash between a BASE and its consumes counts nothing twice.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "../supervisor/src/history.h"
#include "mq/store.h"
#include "test_util.h"

namespace mq::supervisor {
namespace {

// The pending records of the store at `path`, in order.
std::vector<std::string> Records(const std::string& path) {
  std::vector<std::string> out;
  std::unique_ptr<Store> s;
  Status st = Store::Open(path, StoreOptions{}).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return out;
  EXPECT_TRUE(s->ScanPending(0, [&](const MessageView& m) {
                 out.emplace_back(m.payload);
                 return true;
               }).ok());
  EXPECT_TRUE(s->Close().ok());
  return out;
}

size_t CountPrefix(const std::vector<std::string>& rs, const std::string& prefix) {
  size_t n = 0;
  for (const std::string& r : rs) n += r.rfind(prefix, 0) == 0;
  return n;
}

TEST(HistoryTrimTest, ManyExitsStayBoundedAndKeepRestartCountsLastExitsAndTheNewestExitsVerbatim) {
  test::FastTempDir dir;
  const std::string path = dir.File("sup.log");
  const size_t kExits = 3 * History::kTrimAt + 17;
  uint64_t restarts_a = 0, restarts_b = 0;
  int last_b_code = -1;
  {
    std::unique_ptr<History> h;
    ASSERT_TRUE(History::Open(path).MoveTo(&h).ok());
    for (size_t i = 0; i < kExits; ++i) {
      const bool a = i % 3 != 0;
      const bool restart = i % 5 != 0;
      (a ? restarts_a : restarts_b) += restart;
      if (!a) last_b_code = static_cast<int>(i % 7);
      ASSERT_TRUE(h->RecordExit(a ? "a" : "b", static_cast<pid_t>(1000 + i),
                                a ? ExitReason::Signal(SIGKILL) : ExitReason::Exit(static_cast<int>(i % 7)), restart)
                      .ok());
      ASSERT_LT(h->exit_records(), History::kTrimAt) << "after exit " << i;
    }
    EXPECT_EQ(h->children().at("a").restarts, restarts_a);
    EXPECT_EQ(h->children().at("b").restarts, restarts_b);
  }
  const std::vector<std::string> rs = Records(path);
  EXPECT_LT(rs.size(), History::kTrimAt + 2) << "the history is not bounded";
  EXPECT_GE(CountPrefix(rs, "EXIT "), History::kKeep) << "fewer than kKeep exits kept verbatim";
  EXPECT_EQ(CountPrefix(rs, "BASE "), 2u) << "one BASE per child, the older ones consumed";
  ASSERT_FALSE(rs.empty());
  const size_t last = kExits - 1;
  EXPECT_NE(rs.back().find("pid=" + std::to_string(1000 + last) + " "), std::string::npos)
      << "the newest exit is not the last record: " << rs.back();

  std::unique_ptr<History> again;
  ASSERT_TRUE(History::Open(path).MoveTo(&again).ok());
  EXPECT_EQ(again->children().at("a").restarts, restarts_a);
  EXPECT_EQ(again->children().at("b").restarts, restarts_b);
  EXPECT_EQ(again->children().at("b").last_exit, "exit:" + std::to_string(last_b_code))
      << "b's last exit";
  EXPECT_EQ(again->children().at("a").last_exit, "signal:KILL");
}

TEST(HistoryTrimTest, ExitsABaseCoversThatACrashLeftPendingAreNotCountedTwice) {
  test::FastTempDir dir;
  const std::string path = dir.File("sup.log");
  {
    // As a crash after a trim's BASE was synced and before its consumes were:
    // three exits, a BASE that covers the first two, one more exit.
    std::unique_ptr<Store> s;
    StoreOptions o;
    ASSERT_TRUE(Store::Open(path, o).MoveTo(&s).ok());
    uint64_t seq = 0;
    ASSERT_TRUE(s->Append("EXIT name=a pid=1 reason=signal:KILL restart=yes at=10").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Append("EXIT name=a pid=2 reason=signal:KILL restart=yes at=20").MoveTo(&seq).ok());
    const uint64_t upto = seq;
    ASSERT_TRUE(s->Append("EXIT name=a pid=3 reason=exit:3 restart=yes at=30").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Append("BASE upto=" + std::to_string(upto) + " name=a restarts=2 last=signal:KILL at=20")
                    .MoveTo(&seq)
                    .ok());
    ASSERT_TRUE(s->Append("EXIT name=a pid=4 reason=exit:4 restart=no at=40").MoveTo(&seq).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  std::unique_ptr<History> h;
  ASSERT_TRUE(History::Open(path).MoveTo(&h).ok());
  EXPECT_EQ(h->children().at("a").restarts, 3u) << "2 in the BASE, and pid 3's after it; pid 4 was not restarted";
  EXPECT_EQ(h->children().at("a").last_exit, "exit:4");
  EXPECT_EQ(h->exit_records(), 2u);
}

}  // namespace
}  // namespace mq::supervisor
