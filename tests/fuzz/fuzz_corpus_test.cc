// Runs every fuzz target over its committed seed corpus
// (tests/fuzz/corpus/<target>/) and its regression inputs
// (tests/fuzz/regressions/<target>/: inputs that once made a target fail,
// kept so the fix stays fixed). Any failed check of a target fails the test,
// naming the input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "fuzz_targets.h"

namespace mq::fuzz {

struct FuzzFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void FuzzFail(const char* file, int line, const std::string& what) {
  throw FuzzFailure(std::string(file) + ":" + std::to_string(line) + ": " + what);
}

namespace {

using Target = int (*)(const uint8_t*, size_t);

// Runs `fn` over every file of the target's corpus and regression
// directories; returns how many inputs it ran.
size_t RunInputs(const std::string& name, Target fn) {
  size_t ran = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const std::filesystem::path dir = std::filesystem::path(MQ_FUZZ_DIR) / kind / name;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      try {
        fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      } catch (const FuzzFailure& f) {
        ADD_FAILURE() << e.path().string() << ": " << f.what();
      }
      ++ran;
    }
  }
  return ran;
}

TEST(FuzzCorpusTest, LogRecoveryKeepsEveryByteOfEachSeedAndRegression) {
  EXPECT_GE(RunInputs("log_recovery", &LogRecovery), 10u);
}

TEST(FuzzCorpusTest, RecoveryPlansAreSoundAndAgreeAcrossModesOnEachSeedAndRegression) {
  EXPECT_GE(RunInputs("recovery_plan", &RecoveryDecision), 10u);
}

TEST(FuzzCorpusTest, KeyExtractorSpecsRoundTripOnEachSeedAndRegression) {
  EXPECT_GE(RunInputs("key_extractor", &KeyExtractor), 5u);
}

TEST(FuzzCorpusTest, PatternsRoundTripOnEachSeedAndRegression) {
  EXPECT_GE(RunInputs("pattern", &Pattern), 5u);
}

TEST(FuzzCorpusTest, ReplyDatagramsDecodeAndEncodeAlikeOnEachSeedAndRegression) {
  EXPECT_GE(RunInputs("reply", &Reply), 3u);
}

TEST(FuzzCorpusTest, ConfirmedSenderMatchesAnswersInOrderOnEachSeedAndRegression) {
  EXPECT_GE(RunInputs("confirmed_replies", &ConfirmedReplies), 3u);
}

}  // namespace
}  // namespace mq::fuzz
