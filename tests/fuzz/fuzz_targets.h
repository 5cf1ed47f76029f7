// The fuzz targets of mq (docs/reliability.md, "Fuzzing").
//
// Each target is a plain function over one input. fuzz_main.cc wraps one of
// them as LLVMFuzzerTestOneInput for a libFuzzer binary (built with
// -DMQ_FUZZ=ON and clang); fuzz_corpus_test.cc runs every one of them over its
// committed seed corpus and its regression inputs in the ordinary test suite.
//
// A target checks the properties it states with FUZZ_CHECK. A failed check
// calls FuzzFail, which the libFuzzer binary defines as "print and abort" (a
// crash libFuzzer saves) and the corpus test as "throw" (a test failure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mq::fuzz {

// Opening and recovering an arbitrary log file: mq::ScanLog, then
// mq::Store::Open in each recovery mode, each on a fresh copy of the input.
int LogRecovery(const uint8_t* data, size_t size);
// Recovery's decision over a log's bytes in memory (mq::RecoveryPlanner), in
// each recovery mode: fast, no file, no index.
int RecoveryDecision(const uint8_t* data, size_t size);
// mq::KeyExtractor::Parse and Extract.
int KeyExtractor(const uint8_t* data, size_t size);
// mq::ParsePattern (mqtool recv --match) and Pattern::Matches.
int Pattern(const uint8_t* data, size_t size);
// The confirmation datagram's parser (mailbox/src/reply_format.h).
int Reply(const uint8_t* data, size_t size);
// mq::ConfirmedSender reading arbitrary answers from a fake mailbox.
int ConfirmedReplies(const uint8_t* data, size_t size);

[[noreturn]] void FuzzFail(const char* file, int line, const std::string& what);

// A scratch directory for this process (on /dev/shm when it can be written),
// removed at exit.
const std::string& ScratchDir();
// Removes every entry of `dir` (not the directory itself).
void ClearDir(const std::string& dir);

}  // namespace mq::fuzz

#define FUZZ_CHECK(cond, what)                                          \
  do {                                                                  \
    if (!(cond)) ::mq::fuzz::FuzzFail(__FILE__, __LINE__, (what));      \
  } while (0)
