// The shared runtime (mq/runtime.h; docs/mailbox.md, "Many mailboxes: the
// shared runtime"): many mailboxes served by a fixed set of threads, each
// message reaching its own mailbox, a flooded mailbox not starving the
// others, close and reopen on a live runtime, and the runtime's lifetime.
//
// Size: MQ_RUNTIME_MAILBOXES mailboxes (default kDefaultMailboxes; fewer
// under ASan and TSan).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "engine/store_threads.h"
#include "mailbox_testing.h"
#include "mq/mailbox.h"
#include "mq/runtime.h"
#include "mq/sender.h"

namespace mq {
namespace {

using namespace std::chrono_literals;
using test::FastTempDir;
using test::ThreadCount;

// The figure: 1,000 mailboxes in one process (each index map starts
// at 1 MiB and grows on demand, so they fit). MQ_RUNTIME_MAILBOXES changes it.
constexpr size_t kDefaultMailboxes = 1000;

// Under ASan and TSan (several times slower, and TSan's shadow memory) 50.
constexpr size_t kSanitizedMailboxes = test::kSanitized ? 50 : 0;

size_t MailboxCount() {
  if (const char* e = std::getenv("MQ_RUNTIME_MAILBOXES")) return std::strtoul(e, nullptr, 10);
  return kSanitizedMailboxes != 0 ? kSanitizedMailboxes : kDefaultMailboxes;
}

// Each mailbox holds a handful of descriptors (socket, log, lock, index).
void RaiseDescriptorLimit() {
  rlimit r{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &r), 0);
  r.rlim_cur = r.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &r), 0);
}

std::shared_ptr<Runtime> CreateRuntimeOrDie() {
  std::shared_ptr<Runtime> rt;
  Status s = Runtime::Create().MoveTo(&rt);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return rt;
}

MailboxOptions OptionsOn(const FastTempDir& dir, size_t i, const std::shared_ptr<Runtime>& rt) {
  MailboxOptions o;
  o.socket_path = dir.File("m" + std::to_string(i) + ".sock");
  o.queue_path = dir.File("m" + std::to_string(i) + ".q");
  o.store.sync = SyncPolicy::kNone;
  o.runtime = rt;
  return o;
}

std::unique_ptr<Sender> OpenSenderOrDie(const std::string& path) {
  SendOptions so;
  so.retry_for = 10s;
  std::unique_ptr<Sender> s;
  Status st = Sender::Open(path, so).MoveTo(&s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

std::string Payload(size_t mailbox, size_t k) { return std::to_string(mailbox) + ":" + std::to_string(k); }

// Mailbox 0 is flooded by senders that never pause (faster than the reactor
// deals with their datagrams, so its socket stays full);
// every other mailbox gets kEach messages from its own sender. Each of those
// must be stored while the flood goes on, with the flooded mailbox served at
// most a few batches meanwhile (and within a generous time bound), and then be
// received from its own mailbox in order. The wait is on the stored count
// (Stats), never on Receive: a receiver reads its socket itself, which would
// bypass the reactor this test is about.
TEST(MailboxRuntime, EveryMessageReachesItsMailboxWhileAnotherIsFlooded) {
  RaiseDescriptorLimit();
  const size_t n = MailboxCount();
  constexpr size_t kEach = 5;
  constexpr auto kBound = 30s;  // generous: a fair reactor needs well under a second
  constexpr int kFloodThreads = 4;
  FastTempDir dir;
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  std::vector<std::unique_ptr<Mailbox>> mbs;
  for (size_t i = 0; i < n; ++i) {
    MailboxOptions o = OptionsOn(dir, i, rt);
    // The flooded mailbox is slow to serve: its flood is of datagrams over
    // its maximum size, each reported to an on_reject that takes 5 ms (a
    // slow logger), so its senders outpace the reactor and its socket never
    // empties while they run (it holds net.unix.max_dgram_qlen + 1
    // datagrams, at least 11: 55 ms of work, in which some sender runs).
    if (i == 0) {
      o.max_message_size = 64;
      o.ingest_batch = 8;
      o.on_reject = [](const Rejection&) { std::this_thread::sleep_for(5ms); };
    }
    mbs.push_back(test::OpenMailboxOrDie(o));
    ASSERT_TRUE(mbs.back()) << "mailbox " << i;
  }
  EXPECT_EQ(rt->Stats().mailboxes, n);

  std::atomic<bool> stop_flood{false};
  std::atomic<uint64_t> flooded{0};
  std::vector<std::thread> flood;
  struct Joiner {  // stops the flood on every way out of the test
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~Joiner() {
      stop->store(true);
      for (std::thread& t : *threads)
        if (t.joinable()) t.join();
    }
  } joiner{&stop_flood, &flood};
  for (int t = 0; t < kFloodThreads; ++t)
    flood.emplace_back([&] {
      std::unique_ptr<Sender> s = OpenSenderOrDie(mbs[0]->options().socket_path);
      if (!s) return;
      const std::string small(100, 'f');
      while (!stop_flood.load()) {
        if (!s->Send(small).ok()) break;
        flooded.fetch_add(1);
      }
    });
  // The flood is under way before the others send.
  ASSERT_TRUE(test::WaitUntil([&] { return mbs[0]->Stats().rejected_too_large > 20; }, kBound));

  std::vector<std::unique_ptr<Sender>> senders(n);
  for (size_t i = 1; i < n; ++i) {
    senders[i] = OpenSenderOrDie(mbs[i]->options().socket_path);
    ASSERT_TRUE(senders[i]);
  }
  const auto start = std::chrono::steady_clock::now();
  for (size_t k = 0; k < kEach; ++k)
    for (size_t i = 1; i < n; ++i) ASSERT_TRUE(senders[i]->Send(Payload(i, k)).ok()) << i;
  // From here every other mailbox's messages are in its socket: a fair
  // reactor stores them within the turn under way and the next two (256
  // sockets per epoll_wait), serving the flooded mailbox at most
  // ingest_batch (8) datagrams per turn meanwhile.
  const uint64_t flood_before = mbs[0]->Stats().rejected_too_large;
  size_t done = 1;
  const bool all_stored = test::WaitUntil(
      [&] {
        while (done < n && mbs[done]->Stats().stored == kEach) ++done;
        return done == n;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(kBound));
  const auto waited = std::chrono::steady_clock::now() - start;
  const uint64_t flood_during = mbs[0]->Stats().rejected_too_large - flood_before;
  stop_flood.store(true);
  for (std::thread& t : flood) t.join();
  ASSERT_TRUE(all_stored) << "mailbox " << done << " has " << mbs[done]->Stats().stored << " of " << kEach
                          << " messages stored after "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
                          << " ms while mailbox 0 was flooded";
  // The bound, in the flooded mailbox's datagrams rather than in time: 8
  // turns' worth. A reactor that served a ready socket until it is empty
  // would serve the flood until its senders paused.
  EXPECT_LE(flood_during, 8u * 8u) << "the flooded mailbox was served " << flood_during
                                   << " datagrams while the others waited";
  EXPECT_GT(flooded.load(), 20u);  // the flood was under way

  for (size_t i = 1; i < n; ++i) {
    for (size_t k = 0; k < kEach; ++k) {
      Message m;
      ASSERT_TRUE(mbs[i]->Receive(Pattern::Any(), Mailbox::kPoll, &m).ok()) << i << " " << k;
      ASSERT_EQ(m.payload, Payload(i, k)) << "mailbox " << i;
    }
    Message extra;
    EXPECT_TRUE(mbs[i]->Receive(Pattern::Any(), Mailbox::kPoll, &extra).IsTimedOut()) << i;
  }
  for (auto& mb : mbs) EXPECT_TRUE(mb->Close().ok());
  EXPECT_EQ(rt->Stats().mailboxes, 0u);
}

// Mailboxes on a runtime add no thread: the process has as many threads with
// many mailboxes open as with one, each with messages stored, synced by the
// batch flusher and written to its index by the tail writer.
TEST(MailboxRuntime, ThreadCountDoesNotGrowWithMailboxes) {
  RaiseDescriptorLimit();
  const size_t n = MailboxCount();
  FastTempDir dir;
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  std::vector<std::unique_ptr<Mailbox>> mbs;
  auto open_and_use = [&](size_t i) {
    MailboxOptions o = OptionsOn(dir, i, rt);
    // The store's background jobs run too: the batch flusher, and the index
    // writer (a tail of one message is flushed at the next append).
    o.store.sync = SyncPolicy::kBatch;
    o.store.index_tail_flush = 1;
    mbs.push_back(test::OpenMailboxOrDie(o));
    ASSERT_TRUE(mbs.back());
    ASSERT_TRUE(Send(o.socket_path, Payload(i, 0)).ok());
    ASSERT_TRUE(Send(o.socket_path, Payload(i, 1)).ok());
  };
  open_and_use(0);
  ASSERT_TRUE(test::WaitUntil([&] { return mbs[0]->Stats().stored == 2; }));
  const size_t with_one = ThreadCount();
  for (size_t i = 1; i < n; ++i) ASSERT_NO_FATAL_FAILURE(open_and_use(i));
  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(test::WaitUntil([&] { return mbs[i]->Stats().stored == 2; })) << i;
    ASSERT_TRUE(test::WaitUntil([&] { return mbs[i]->Stats().store.durable_seq == 2; })) << i;
  }
  for (size_t i = 0; i < n; ++i) EXPECT_GT(mbs[i]->Stats().store.index_writes, 0u) << i;
  EXPECT_EQ(ThreadCount(), with_one) << n << " mailboxes on one runtime";
  mbs.clear();
  EXPECT_EQ(ThreadCount(), with_one);
}

// Idle mailboxes on a runtime at sync=batch cost its sync thread nothing
// (issue 23, "Idle cost"): each stored and synced a message, then none of
// them is on the sync schedule and the sync thread does not wake for 300 ms
// (before, it took a turn per mailbox every batch_interval: 1,200 here).
TEST(MailboxRuntime, IdleMailboxesAtSyncBatchCauseNoSyncThreadWakeups) {
  constexpr size_t kMailboxes = 20;
  FastTempDir dir;
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  std::vector<std::unique_ptr<Mailbox>> mbs;
  for (size_t i = 0; i < kMailboxes; ++i) {
    MailboxOptions o = OptionsOn(dir, i, rt);
    o.store.sync = SyncPolicy::kBatch;
    o.store.batch_interval = 5ms;
    mbs.push_back(test::OpenMailboxOrDie(o));
    ASSERT_TRUE(mbs.back());
    ASSERT_TRUE(Send(o.socket_path, Payload(i, 0)).ok());
  }
  for (size_t i = 0; i < kMailboxes; ++i)
    ASSERT_TRUE(test::WaitUntil([&] { return mbs[i]->Stats().store.durable_seq == 1; })) << i;
  StoreThreads::Impl* threads = rt->store_threads()->impl();
  ASSERT_TRUE(test::WaitUntil([&] { return threads->flushers_scheduled() == 0; }))
      << threads->flushers_scheduled() << " idle mailboxes are still on the sync schedule";
  const uint64_t wakeups = threads->sync_wakeups();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(threads->sync_wakeups(), wakeups) << "the sync thread woke while every mailbox was idle";
  EXPECT_EQ(threads->flushers_scheduled(), 0u);
  // Still served: a message now is stored and synced by the runtime alone.
  ASSERT_TRUE(Send(dir.File("m0.sock"), Payload(0, 1)).ok());
  ASSERT_TRUE(test::WaitUntil([&] { return mbs[0]->Stats().store.durable_seq == 2; }));
}

// A mailbox closed while its runtime serves others stores what its socket
// still holds (Close reads it on the closing thread), and reopened on the
// same runtime it receives again; the other mailbox is served throughout.
TEST(MailboxRuntime, CloseAndReopenOnALiveRuntime) {
  constexpr size_t kBurst = 400;
  FastTempDir dir;
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  MailboxOptions oa = OptionsOn(dir, 0, rt);
  std::unique_ptr<Mailbox> b = test::OpenMailboxOrDie(OptionsOn(dir, 1, rt));
  ASSERT_TRUE(b);
  // B is kept busy with large datagrams, so that the reactor is behind on A
  // when A closes.
  std::atomic<bool> stop{false};
  std::thread busy([&] {
    std::unique_ptr<Sender> s = OpenSenderOrDie(b->options().socket_path);
    const std::string big(60 * 1024, 'b');
    while (s && !stop.load())
      if (!s->Send(big).ok()) break;
  });
  uint64_t sent = 0;
  for (int round = 0; round < 3; ++round) {
    std::unique_ptr<Mailbox> a = test::OpenMailboxOrDie(oa);
    ASSERT_TRUE(a) << "round " << round;
    std::unique_ptr<Sender> s = OpenSenderOrDie(oa.socket_path);
    ASSERT_TRUE(s);
    for (size_t k = 0; k < kBurst; ++k) ASSERT_TRUE(s->Send(Payload(0, sent++)).ok());
    ASSERT_TRUE(a->Close().ok());
    EXPECT_EQ(a->Stats().stored, kBurst) << "round " << round << ": Close stores what the socket holds";
  }
  const uint64_t b_before = b->Stats().stored;
  std::unique_ptr<Mailbox> a = test::OpenMailboxOrDie(oa);
  ASSERT_TRUE(a);
  for (uint64_t k = 0; k < sent; ++k) {
    Message m;
    ASSERT_TRUE(a->Receive(Pattern::Any(), Mailbox::kPoll, &m).ok()) << k;
    ASSERT_EQ(m.payload, Payload(0, k));
  }
  // Reopened, A is served by the reactor (nobody receives meanwhile).
  ASSERT_TRUE(Send(oa.socket_path, "after").ok());
  ASSERT_TRUE(test::WaitUntil([&] { return a->Stats().stored == 1; }));
  ASSERT_TRUE(test::WaitUntil([&] { return b->Stats().stored > b_before; }));
  stop.store(true);
  busy.join();
  EXPECT_EQ(rt->Stats().mailboxes, 2u);
}

// A mailbox holds its runtime: released first by its creator, the runtime
// serves on until the last mailbox goes, then its threads end.
TEST(MailboxRuntime, RuntimeReleasedBeforeItsMailboxesServesThemToTheEnd) {
  FastTempDir dir;
  const size_t before = ThreadCount();
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  std::weak_ptr<Runtime> weak = rt;
  std::unique_ptr<Mailbox> a = test::OpenMailboxOrDie(OptionsOn(dir, 0, rt));
  std::unique_ptr<Mailbox> b = test::OpenMailboxOrDie(OptionsOn(dir, 1, rt));
  ASSERT_TRUE(a && b);
  rt.reset();
  EXPECT_FALSE(weak.expired());
  ASSERT_TRUE(Send(a->options().socket_path, "to a").ok());
  ASSERT_TRUE(test::WaitUntil([&] { return a->Stats().stored == 1; }));
  a.reset();
  EXPECT_FALSE(weak.expired());
  ASSERT_TRUE(Send(b->options().socket_path, "to b").ok());
  ASSERT_TRUE(test::WaitUntil([&] { return b->Stats().stored == 1; }));
  b.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(ThreadCount(), before);
}

// The usual order: mailboxes closed and gone, then the runtime; its threads
// end with it.
TEST(MailboxRuntime, RuntimeDestroyedAfterItsMailboxes) {
  FastTempDir dir;
  const size_t before = ThreadCount();
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  EXPECT_EQ(ThreadCount(), before + 4);  // the reactor, the confirmer, the sync thread, the index writer
  {
    std::unique_ptr<Mailbox> a = test::OpenMailboxOrDie(OptionsOn(dir, 0, rt));
    ASSERT_TRUE(a);
    ASSERT_TRUE(Send(a->options().socket_path, "x").ok());
    Message m;
    ASSERT_TRUE(a->Receive(Pattern::Any(), 5s, &m).ok());
    EXPECT_EQ(m.payload, "x");
    EXPECT_TRUE(a->Close().ok());
  }
  EXPECT_EQ(rt->Stats().mailboxes, 0u);
  rt.reset();
  EXPECT_EQ(ThreadCount(), before);
}

// The runtime's one confirmer answers the confirming senders of every
// mailbox, each answer naming the message's seq in its own queue, under
// sync=always (each answer waits for an fdatasync of its own store) and
// sync=batch.
TEST(MailboxRuntime, ConfirmedSendersOfEveryMailboxAreAnswered) {
  const size_t kMailboxes = std::min<size_t>(20, MailboxCount());
  constexpr size_t kEach = 10;
  for (SyncPolicy policy : {SyncPolicy::kAlways, SyncPolicy::kBatch}) {
    FastTempDir dir;
    std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
    ASSERT_TRUE(rt);
    std::vector<std::unique_ptr<Mailbox>> mbs;
    std::vector<std::unique_ptr<ConfirmedSender>> senders;
    for (size_t i = 0; i < kMailboxes; ++i) {
      MailboxOptions o = OptionsOn(dir, i, rt);
      o.store.sync = policy;
      mbs.push_back(test::OpenMailboxOrDie(o));
      ASSERT_TRUE(mbs.back());
      std::unique_ptr<ConfirmedSender> cs;
      ASSERT_TRUE(ConfirmedSender::Open(o.socket_path, {}).MoveTo(&cs).ok());
      senders.push_back(std::move(cs));
    }
    for (size_t k = 0; k < kEach; ++k)
      for (size_t i = 0; i < kMailboxes; ++i) ASSERT_TRUE(senders[i]->SendAsync(Payload(i, k)).ok());
    for (size_t i = 0; i < kMailboxes; ++i) {
      std::vector<Confirmation> got;
      ASSERT_TRUE(senders[i]->Flush(&got).ok()) << i;
      ASSERT_EQ(got.size(), kEach) << i;
      for (size_t k = 0; k < kEach; ++k) {
        EXPECT_TRUE(got[k].status.ok()) << got[k].status.ToString();
        EXPECT_EQ(got[k].seq, k + 1) << "mailbox " << i;  // seqs start at 1 in each queue
      }
      // Counted after the send returns: the answer may be read first.
      EXPECT_TRUE(test::WaitUntil([&] { return mbs[i]->Stats().confirmations == kEach; })) << i;
    }
    EXPECT_GE(rt->Stats().confirm_passes, 1u);
  }
}

// A socket handed over by a supervisor (inherit_socket) on a runtime: Close
// leaves it open for its owner, so what is sent after the close waits in the
// kernel and the mailbox reopened on the same runtime stores it, in order.
TEST(MailboxRuntime, AdoptedSocketKeepsWhatArrivesAfterCloseForTheNextOpen) {
  FastTempDir dir;
  std::shared_ptr<Runtime> rt = CreateRuntimeOrDie();
  ASSERT_TRUE(rt);
  MailboxOptions o = OptionsOn(dir, 0, rt);
  const int owner = test::BindSupervisedSocket(o.socket_path);
  ASSERT_GE(owner, 0);
  std::unique_ptr<Sender> s = OpenSenderOrDie(o.socket_path);
  ASSERT_TRUE(s);
  for (int round = 0; round < 2; ++round) {
    o.inherit_socket = ::dup(owner);
    std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
    ASSERT_TRUE(mb);
    // Round 1 finds the 3 sent after round 0's close waiting in the socket.
    ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == (round == 0 ? 0u : 3u); }));
    for (int k = 0; k < 5; ++k) ASSERT_TRUE(s->Send(Payload(round, k)).ok());
    ASSERT_TRUE(test::WaitUntil([&] { return mb->Stats().stored == (round == 0 ? 5u : 8u); }));
    ASSERT_TRUE(mb->Close().ok());
    if (round == 0) {
      for (int k = 0; k < 3; ++k) ASSERT_TRUE(s->Send(Payload(9, k)).ok());
    }
  }
  o.inherit_socket = ::dup(owner);
  std::unique_ptr<Mailbox> mb = test::OpenMailboxOrDie(o);
  ASSERT_TRUE(mb);
  std::vector<std::string> want;
  for (int k = 0; k < 5; ++k) want.push_back(Payload(0, k));
  for (int k = 0; k < 3; ++k) want.push_back(Payload(9, k));
  for (int k = 0; k < 5; ++k) want.push_back(Payload(1, k));
  for (const std::string& w : want) {
    Message m;
    ASSERT_TRUE(mb->Receive(Pattern::Any(), Mailbox::kPoll, &m).ok()) << w;
    EXPECT_EQ(m.payload, w);
  }
  ASSERT_TRUE(mb->Close().ok());
  ::close(owner);
}

}  // namespace
}  // namespace mq
