#include "progress.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace mqtool {

uint64_t FileSizeOrZero(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { Done(); }

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (shown_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  shown_ = true;
  unsigned pct = total_ == 0 ? 100u : static_cast<unsigned>(std::min<uint64_t>(done, total_) * 100 / total_);
  std::fprintf(stderr, "\r%s: %3u%% (%llu of %llu MB)", label_.c_str(), pct,
               static_cast<unsigned long long>(done >> 20), static_cast<unsigned long long>(total_ >> 20));
  std::fflush(stderr);
}

void Progress::Show(std::string_view text) {
  if (!enabled_) return;
  shown_ = true;
  std::fprintf(stderr, "\r%s: %.*s\033[K", label_.c_str(), static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

void Progress::Done() {
  if (!enabled_ || !shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace mqtool
