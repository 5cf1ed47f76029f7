// A file the store refuses to open (random bytes, a future format version, a
// header cut short, a header whose checksum fails) is left exactly as it
// was, and so is its directory: no lock file, no index, no byte changed.
// Through Store::Open and through `mqtool recv`.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "format/log_format.h"
#include "mq/store.h"
#include "mqtool_harness.h"
#include "format/record.h"
#include "test_util.h"

namespace mq::test {
namespace {

// Every name in `dir` with its bytes (lock files included).
std::map<std::string, std::string> Everything(const std::string& dir) {
  std::map<std::string, std::string> m;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    m[e.path().filename().string()] = e.is_regular_file() ? ReadFileOrDie(e.path().string()) : "(not a file)";
  return m;
}

struct Refused {
  const char* name;
  std::string (*bytes)(const std::string& scratch);
  const char* reason;
};

void PrintTo(const Refused& r, std::ostream* os) { *os << r.name; }

std::string RandomBytes(const std::string&) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 2654435761u) >> 13));
  return junk;
}

std::string FutureVersion(const std::string&) {
  std::string bytes;
  log::Header h;
  h.version = log::kFormatVersion + 1;
  h.log_id = 42;
  log::EncodeHeader(h, &bytes);
  return bytes;
}

std::string GoodQueue(const std::string& scratch) {
  MakeQueue(scratch, {"one", "two"});
  return ReadFileOrDie(scratch);
}

std::string HeaderCutShort(const std::string& scratch) { return GoodQueue(scratch).substr(0, 30); }

std::string HeaderChecksumFails(const std::string& scratch) {
  std::string b = GoodQueue(scratch);
  b[log::kRecordHeaderSize + log::kHeaderLogIdOffset] ^= 0x55;
  return b;
}

class RefusalTest : public ::testing::TestWithParam<Refused> {
 protected:
  void SetUp() override {
    q_ = dir_.File("q");
    WriteFileOrDie(q_, GetParam().bytes(scratch_.File("good")));
    before_ = Everything(dir_.path());
  }
  TempDir dir_, scratch_;
  std::string q_;
  std::map<std::string, std::string> before_;
};

TEST_P(RefusalTest, StoreOpenRefusesAndCreatesOrChangesNothing) {
  std::unique_ptr<Store> st;
  Status s = Store::Open(q_, StoreOptions{}).MoveTo(&st);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find(GetParam().reason), std::string::npos) << s.ToString();
  EXPECT_EQ(Everything(dir_.path()), before_);
}

TEST_P(RefusalTest, MqtoolRecvRefusesAndCreatesOrChangesNothing) {
  ToolRun r = RunTool({"recv", q_});
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find(GetParam().reason), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Everything(dir_.path()), before_);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, RefusalTest,
    ::testing::Values(Refused{"RandomBytes", RandomBytes, "not an mq message log"},
                      Refused{"FutureVersion", FutureVersion, "written in log format version 2"},
                      Refused{"HeaderCutShort", HeaderCutShort, "the file header is cut short"},
                      Refused{"HeaderChecksumFails", HeaderChecksumFails, "file header checksum mismatch"}),
    [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace mq::test
