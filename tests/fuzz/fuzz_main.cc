// The libFuzzer entry point of one fuzz binary: MQ_FUZZ_ENTRY names the
// target in fuzz_targets.h (set by tests/fuzz/CMakeLists.txt).
#include <cstdio>
#include <cstdlib>

#include "fuzz_targets.h"

namespace mq::fuzz {

void FuzzFail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what.c_str());
  std::abort();
}

}  // namespace mq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mq::fuzz::MQ_FUZZ_ENTRY(data, size);
}
