#include "bench_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace mq::bench {

ScratchDir::ScratchDir() {
  const char* base = std::getenv("MQ_BENCH_DIR");
  if (base == nullptr || *base == '\0') base = std::getenv("TMPDIR");
  if (base == nullptr || *base == '\0') base = "/tmp";
  std::filesystem::create_directories(base);
  std::string tmpl = std::string(base) + "/mq-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror(("mkdtemp " + tmpl).c_str());
    std::abort();
  }
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void RemoveFile(const std::string& path) { (void)::unlink(path.c_str()); }

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

bool CopyFile(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return false;
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    ::close(in);
    return false;
  }
  std::vector<char> buf(4 << 20);
  bool ok = true;
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        ok = false;
        break;
      }
      done += w;
    }
    if (!ok) break;
  }
  ::close(in);
  if (ok && ::fdatasync(out) != 0) ok = false;  // no writeback left to compete with what is timed next
  if (::close(out) != 0) ok = false;
  return ok;
}

std::string MakePayload(size_t size, std::string_view key, uint64_t salt) {
  std::string p;
  p.reserve(size);
  p.append(key);
  p.push_back(':');
  uint64_t x = salt * 0x9E3779B97F4A7C15ull + 1;
  while (p.size() < size) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p.push_back(static_cast<char>('a' + (x * 0x2545F4914F6CDD1Dull >> 59)));
  }
  p.resize(size);
  return p;
}

std::string TagKey(uint64_t i, uint64_t distinct) {
  char b[32];
  std::snprintf(b, sizeof(b), "k%04llu", static_cast<unsigned long long>(i % distinct));
  return b;
}

bool Failed(benchmark::State& state, const mq::Status& s) {
  if (s.ok()) return false;
  state.SkipWithError(s.ToString().c_str());
  return true;
}

bool FailedErrno(benchmark::State& state, const std::string& what) {
  std::string msg = what + ": " + std::strerror(errno);
  state.SkipWithError(msg.c_str());
  return true;
}

Flags ParseFlags(int* argc, char** argv) {
  Flags f;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--mq_quick") {
      f.quick = true;
      continue;
    }
    if (a.rfind("--mq_min_time=", 0) == 0) {
      f.min_time = std::atof(std::string(a.substr(14)).c_str());
      continue;
    }
    argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = nullptr;
  return f;
}

int RunMain(int argc, char** argv, void (*register_all)(const Flags&)) {
  Flags flags = ParseFlags(&argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("mq_mode", flags.quick ? "quick" : "full");
  register_all(flags);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace mq::bench
