// syscall_order_helper: runs store operations under strace for
// tests/syscall_order_test.cc, marking where each begins and ends with a
// write of "mq-mark:NAME" to /dev/null (which strace shows with -y).
//
//   syscall_order_helper work QUEUE
//       Creates QUEUE (sync=always, no automatic compaction) between the marks
//       open/opened; appends one message (append/appended); appends two more
//       unmarked; consumes the first (consume/consumed); compacts
//       (compact/compacted); closes (close/closed).
//   syscall_order_helper open QUEUE
//       Opens an existing QUEUE for writing (open/opened), e.g. to recover a
//       torn tail, and closes it (close/closed).
//
// Exit: 0 done, 2 usage, 3 a store error (printed on stderr).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "mq/store.h"

namespace {

int g_mark_fd = -1;

void Mark(const char* name) {
  const std::string m = std::string("mq-mark:") + name;
  (void)!::write(g_mark_fd, m.data(), m.size());
}

int Fail(const char* what, const mq::Status& s) {
  std::fprintf(stderr, "syscall_order_helper: %s: %s\n", what, s.ToString().c_str());
  return 3;
}

mq::StoreOptions Options() {
  mq::StoreOptions o;
  o.sync = mq::SyncPolicy::kAlways;
  o.auto_compact = false;
  return o;
}

int Work(const std::string& queue) {
  std::unique_ptr<mq::Store> st;
  Mark("open");
  mq::Status s = mq::Store::Open(queue, Options()).MoveTo(&st);
  Mark("opened");
  if (!s.ok()) return Fail("Open", s);
  uint64_t first = 0, seq = 0;
  Mark("append");
  s = st->Append("the first message").MoveTo(&first);
  Mark("appended");
  if (!s.ok()) return Fail("Append", s);
  for (const char* p : {"the second message", "the third message"})
    if (!(s = st->Append(p).MoveTo(&seq)).ok()) return Fail("Append", s);
  Mark("consume");
  s = st->Consume(first);
  Mark("consumed");
  if (!s.ok()) return Fail("Consume", s);
  mq::CompactionResult r;
  Mark("compact");
  s = st->Compact().MoveTo(&r);
  Mark("compacted");
  if (!s.ok()) return Fail("Compact", s);
  if (r.messages_dropped != 1) return Fail("Compact", mq::Status::InvalidArgument("dropped no message"));
  Mark("close");
  s = st->Close();
  Mark("closed");
  return s.ok() ? 0 : Fail("Close", s);
}

int Open(const std::string& queue) {
  std::unique_ptr<mq::Store> st;
  Mark("open");
  mq::Status s = mq::Store::Open(queue, Options()).MoveTo(&st);
  Mark("opened");
  if (!s.ok()) return Fail("Open", s);
  Mark("close");
  s = st->Close();
  Mark("closed");
  return s.ok() ? 0 : Fail("Close", s);
}

}  // namespace

int main(int argc, char** argv) {
  g_mark_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (g_mark_fd < 0) return 3;
  const std::string cmd = argc == 3 ? argv[1] : "";
  if (cmd == "work") return Work(argv[2]);
  if (cmd == "open") return Open(argv[2]);
  std::fprintf(stderr, "usage: syscall_order_helper work|open QUEUE\n");
  return 2;
}
