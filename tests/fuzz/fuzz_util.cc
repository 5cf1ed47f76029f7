#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "fuzz_targets.h"

namespace mq::fuzz {

namespace {
void RemoveScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(ScratchDir(), ec);
}
}  // namespace

const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string base;
    if (const char* t = std::getenv("MQ_FUZZ_TMPDIR")) base = t;
    else if (::access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    else if (const char* t2 = std::getenv("TMPDIR")) base = t2;
    else base = "/tmp";
    std::string tmpl = base + "/mqfuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) FuzzFail(__FILE__, __LINE__, "mkdtemp under " + base);
    return tmpl;
  }();
  // Registered once `dir` is made, so it runs before `dir` is destroyed.
  static const bool removed_at_exit = std::atexit(RemoveScratchDir) == 0;
  (void)removed_at_exit;
  return dir;
}

void ClearDir(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) std::filesystem::remove_all(e.path(), ec);
}

}  // namespace mq::fuzz
