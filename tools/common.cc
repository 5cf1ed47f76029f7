#include "common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>
#include <utility>

#include "mq/std_fds.h"

namespace mqtool {

// ---- Encodings --------------------------------------------------------------

namespace {
constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes that EscapePayload leaves as they are: printable ASCII except '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c <= 0x7e; ++c) t[static_cast<size_t>(c)] = c != '\\';
  return t;
}();

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string EscapePayload(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + payload.size() / 8);
  size_t i = 0;
  while (i < payload.size()) {
    // Copy a run of bytes that stay as they are in one append.
    size_t run = i;
    while (run < payload.size() && kPlain[static_cast<unsigned char>(payload[run])]) ++run;
    out.append(payload.data() + i, run - i);
    if (run == payload.size()) break;
    auto c = static_cast<unsigned char>(payload[run]);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, 4);
      }
    }
    i = run + 1;
  }
  return out;
}

std::string UnescapePayload(std::string_view text, std::string_view what) {
  const std::string w(what);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size())
      throw UsageError(w + " ends with a lone '\\' at byte " + std::to_string(i) + "; write \\\\ for a backslash");
    char e = text[++i];
    switch (e) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '0': out += '\0'; break;
      case '"': out += '"'; break;
      case 'x': {
        int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
        int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
        if (hi < 0 || lo < 0)
          throw UsageError(w + " has a malformed \\x escape at byte " + std::to_string(i - 1) +
                           "; write \\xHH with two hex digits");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        throw UsageError(w + " has an unknown escape \\" + e + " at byte " +
                         std::to_string(i - 1) + "; known: \\\\ \\n \\r \\t \\0 \\\" \\xHH");
    }
  }
  return out;
}

mq::Pattern ParseMatch(std::string_view expr) {
  if (expr == "any") return mq::Pattern::Any();
  const size_t colon = expr.find(':');
  const std::string_view kind = expr.substr(0, colon);
  if (colon == std::string_view::npos || (kind != "key" && kind != "prefix"))
    throw UsageError("--match: '" + EscapePayload(expr.substr(0, 60)) +
                     "' is not a pattern; expected any, key:K or prefix:P");
  // "key:" and "prefix:" hold no backslash: unescaping the whole expression
  // names the byte of a bad escape as it stands in the argument.
  std::string text = UnescapePayload(expr, "--match").substr(colon + 1);
  return kind == "key" ? mq::Pattern::Key(std::move(text)) : mq::Pattern::Prefix(std::move(text));
}

std::string RecordText(const mq::LogRecord& r) {
  return "seq=" + std::to_string(r.seq) + " offset=" + std::to_string(r.msg_offset) +
         " state=" + (r.consumed ? "consumed" : "pending") + " size=" + std::to_string(r.payload.size()) +
         " payload=" + EscapePayload(r.payload);
}

std::string RecordJson(const mq::LogRecord& r) {
  return "{\"seq\":" + std::to_string(r.seq) + ",\"offset\":" + std::to_string(r.msg_offset) + ",\"state\":\"" +
         (r.consumed ? "consumed" : "pending") + "\",\"size\":" + std::to_string(r.payload.size()) +
         ",\"payload_b64\":\"" + Base64Encode(r.payload) + "\"}";
}

std::string Plural(uint64_t n, std::string_view noun) {
  std::string s = std::to_string(n) + " " + std::string(noun);
  if (n != 1) s += 's';
  return s;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4, '=');
  char* o = out.data();
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3, o += 4) {
    uint32_t v = static_cast<uint32_t>(in[i]) << 16 | static_cast<uint32_t>(in[i + 1]) << 8 | in[i + 2];
    o[0] = kB64[v >> 18];
    o[1] = kB64[(v >> 12) & 63];
    o[2] = kB64[(v >> 6) & 63];
    o[3] = kB64[v & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {  // the '=' padding is already in place
    uint32_t v = static_cast<uint32_t>(in[i]) << 16 | (rest == 2 ? static_cast<uint32_t>(in[i + 1]) << 8 : 0u);
    o[0] = kB64[v >> 18];
    o[1] = kB64[(v >> 12) & 63];
    if (rest == 2) o[2] = kB64[(v >> 6) & 63];
  }
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  out->clear();
  if (text.size() % 4 != 0) return false;
  out->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return false;  // data after padding
      v[k] = B64Value(c);
      if (v[k] < 0) return false;
    }
    uint32_t w = static_cast<uint32_t>(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
    out->push_back(static_cast<char>(w >> 16));
    if (pad < 2) out->push_back(static_cast<char>((w >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(w & 0xff));
    // Canonical form only: the bits dropped by padding must be zero.
    if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)) return false;
  }
  return true;
}

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

// ---- Numbers ---------------------------------------------------------------

uint64_t ParseUnsigned(std::string_view text, std::string_view option, uint64_t max) {
  auto bad = [&] {
    return UsageError(std::string(option) + ": '" + std::string(text) + "' is not a number from 0 to " +
                      std::to_string(max));
  };
  if (text.empty() || text.size() > 20) throw bad();
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') throw bad();
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) throw bad();
    v = v * 10 + d;
  }
  if (v > max) throw bad();
  return v;
}

std::chrono::milliseconds ParseSeconds(const std::string& text, const char* option) {
  const size_t dot = text.find('.');
  const uint64_t whole = ParseUnsigned(text.substr(0, dot), option, 86400u * 365);
  uint64_t ms = whole * 1000;
  if (dot != std::string::npos) {
    std::string frac = text.substr(dot + 1);
    if (frac.empty() || frac.size() > 3 || frac.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(std::string(option) + ": '" + text + "' is not a number of seconds (e.g. 5 or 0.25)");
    while (frac.size() < 3) frac += '0';
    ms += std::stoul(frac);
  }
  return std::chrono::milliseconds(ms);
}

uint64_t ParseSeq(std::string_view text, std::string_view option) {
  try {
    uint64_t v = ParseUnsigned(text, option);
    if (v != 0) return v;
  } catch (const UsageError&) {
  }
  throw UsageError(std::string(option) + ": '" + std::string(text) +
                   "' is not a sequence number (expected 1 to 18446744073709551615)");
}

// ---- Command line ----------------------------------------------------------

void AddHelp(po::options_description* options) {
  options->add_options()("help,h", "print this help and exit");
}

bool ParseArgs(const std::vector<std::string>& args, const po::options_description& options,
               const std::vector<std::string>& positional, const std::string& usage,
               const std::string& summary, po::variables_map* vm) {
  po::options_description all;
  all.add(options);
  po::positional_options_description pos;
  for (const auto& name : positional) {
    all.add_options()(name.c_str(), po::value<std::string>(), "");
    pos.add(name.c_str(), 1);
  }
  try {
    auto parsed = po::command_line_parser(args)
                      .options(all)
                      .positional(pos)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run();
    po::store(parsed, *vm);
    if (vm->count("help")) {
      std::ostringstream os;
      os << options;
      std::printf("usage: mqtool %s\n%s\n\n%s", usage.c_str(), summary.c_str(), os.str().c_str());
      std::fflush(stdout);
      return false;
    }
    po::notify(*vm);
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("too many arguments; usage: mqtool " + usage);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return true;
}

std::string Required(const po::variables_map& vm, const std::string& name, const std::string& shown) {
  if (!vm.count(name)) throw UsageError("missing " + shown);
  const std::string& v = vm[name].as<std::string>();
  if (v.empty()) throw UsageError("empty " + shown);
  return v;
}

// ---- Errors ----------------------------------------------------------------

ToolError StatusError(const mq::Status& s, const std::string& file, std::string_view what_to_do) {
  std::string msg = s.message();
  if (msg.empty()) msg = mq::Status::CodeName(s.code());
  if (!file.empty() && msg.rfind(file, 0) != 0) msg = file + ": " + msg;
  if (!what_to_do.empty()) {
    if (!msg.empty() && msg.back() != '.' && msg.back() != '?' && msg.back() != '!') msg += '.';
    msg += ' ';
    msg += what_to_do;
  }
  return ToolError(msg);
}

void ThrowIfError(const mq::Status& s, const std::string& file, std::string_view what_to_do) {
  if (!s.ok()) throw StatusError(s, file, what_to_do);
}

// ---- Queues ----------------------------------------------------------------

void AddWaitOptions(po::options_description* options) {
  options->add_options()
      ("wait", "if a mailbox holds the queue, wait until it closes it instead of failing")
      ("timeout", po::value<std::string>()->value_name("SECONDS"),
       "with --wait: give up after this many seconds (default: wait for ever)");
}

WaitOptions GetWaitOptions(const po::variables_map& vm) {
  WaitOptions w;
  w.wait = vm.count("wait") > 0;
  if (vm.count("timeout")) {
    if (!w.wait) throw UsageError("--timeout needs --wait");
    w.timeout = static_cast<double>(ParseUnsigned(vm["timeout"].as<std::string>(), "--timeout", 86400u * 365));
  }
  return w;
}

mq::LogSummary Preflight(const std::string& path) {
  mq::LogSummary sum;
  mq::Status s = mq::ScanLog(path, mq::InspectOptions{}, [](const mq::LogRecord&) { return false; }).MoveTo(&sum);
  ThrowIfError(s, path);
  return sum;
}

void FailIfBusy(const std::string& path, const WaitOptions& wait) {
  if (wait.wait) return;
  pid_t holder = mq::QueueLockHolder(path);
  if (holder == 0) return;
  throw ToolError(path + ": queue in use by pid " + std::to_string(holder) + " (lock " + mq::LockPathFor(path) +
                  "); stop that process, or wait for it to close the queue. Or add --wait to wait for it");
}

std::string DescribeDamage(const std::string& path, const mq::LogDamage& d) {
  std::string at = path + ": offset " + std::to_string(d.offset) + ": ";
  if (d.tail) return at + "torn tail of " + std::to_string(d.bytes) + " bytes (" + d.reason + ")";
  return at + std::to_string(d.bytes) + " damaged bytes (" + d.reason + "); intact messages follow at offset " +
         std::to_string(d.offset + d.bytes);
}

mq::KeyExtractor RecordedKeyExtractor(const std::string& path) {
  mq::IndexInfo info;
  if (!mq::InspectIndex(path, mq::LogSummary{}, mq::InspectOptions{}).MoveTo(&info).ok()) return {};
  auto k = mq::KeyExtractor::Parse(info.extractor);
  return k.ok() ? k.value() : mq::KeyExtractor{};
}

std::unique_ptr<mq::Store> OpenForWriting(const std::string& path, mq::StoreOptions options,
                                          const WaitOptions& wait) {
  options.create_if_missing = false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    std::unique_ptr<mq::Store> store;
    mq::Status s = mq::Store::Open(path, options).MoveTo(&store);
    if (s.ok()) return store;
    if (!s.IsBusy()) throw StatusError(s, path);
    if (!wait.wait) throw StatusError(s, path, "Or add --wait to wait for it");
    std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
    if (wait.timeout > 0 && waited.count() >= wait.timeout)
      throw StatusError(s, path, "Gave up after waiting " + std::to_string(static_cast<uint64_t>(wait.timeout)) +
                                     " s (--timeout)");
    ::usleep(100 * 1000);
  }
}

// ---- Standard descriptors --------------------------------------------------

namespace {
mq::StandardFds g_std_fds;
}  // namespace

void SetUpStandardFds() {
  mq::Status s = mq::EnsureStandardFds(&g_std_fds);
  if (!s.ok()) throw ToolError(s.message());
}

bool StdoutWasClosed() { return g_std_fds.stdout_closed; }
bool StdinWasClosed() { return g_std_fds.stdin_closed; }

void FailIfStdoutClosed(std::string_view what_happens) {
  if (!StdoutWasClosed()) return;
  throw ToolError("standard output is closed (fd 1 was not open when mqtool started, as with >&-); " +
                  std::string(what_happens) + ". Redirect it to a file, or to /dev/null to discard it");
}

// ---- Output ----------------------------------------------------------------

void Output::Failed(int err) {
  if (err == EPIPE) {
    closed_ = true;
    return;
  }
  throw ToolError(name_ + ": write failed: " + std::strerror(err) + "; the output is incomplete");
}

bool Output::Write(std::string_view bytes) {
  if (closed_) return false;
  if (f_ == stdout) FailIfStdoutClosed("nothing was written");
  if (bytes.empty()) return true;
  errno = 0;
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size()) {
    Failed(errno != 0 ? errno : EIO);
    std::clearerr(f_);
    return false;
  }
  return true;
}

bool Output::Line(std::string_view line) {
  return Write(line) && Write("\n");
}

bool Output::Flush() {
  if (closed_) return false;
  errno = 0;
  if (std::fflush(f_) != 0) {
    Failed(errno != 0 ? errno : EIO);
    std::clearerr(f_);
    return false;
  }
  return true;
}

// ---- Progress --------------------------------------------------------------

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
