// The sending process of bench/python_bench.py, in C++ so that the sender is
// never what limits a Python receiver (a Python loop of socket.sendto() is
// slower than some of the receivers it would measure).
//
//   mq_bench_py_sender KIND TARGET PREFIX:COUNT...
//
// KIND:
//   sendto   one send() per message on a connected AF_UNIX datagram socket
//   sendmmsg mq::Sender::SendBatch, 64 datagrams a system call
//   confirmed mq::ConfirmedSender, pipelined (SendAsyncBatch, window 8192):
//            packed once the mailbox offers packs (up to 64 messages a
//            datagram, docs/mailbox.md "Packed sends"); exits 1 unless every
//            message is confirmed stored
//   zmq      a libzmq PUSH socket connected to TARGET (ipc://...), one
//            zmq_send per message (libzmq batches them onto its stream)
//
// Messages are <prefix><7-digit number>, padded with '.' to 64 bytes, in the
// order of the arguments: the same bytes python_bench.py's Python senders
// send. A datagram sender waits (1 ms steps, up to 60 s) for the receiver to
// bind TARGET; a full receiver blocks it (mq::SendOptions::retry_for).
//
// libzmq is loaded with dlopen (libzmq.so.5, which python3-zmq depends on):
// its development headers are not needed, and the datagram kinds run
// without it. The few calls used are declared here from libzmq's stable C
// ABI (zmq.h: ZMQ_PUSH 8, ZMQ_LINGER 17, ZMQ_SNDHWM 23).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mq/mailbox.h"
#include "mq/sender.h"

namespace {

constexpr size_t kSize = 64;

std::vector<std::string> Plan(int argc, char** argv) {
  std::vector<std::string> msgs;
  for (int i = 3; i < argc; ++i) {
    std::string item = argv[i];
    const size_t colon = item.find(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "mq_bench_py_sender: '%s' is not PREFIX:COUNT\n", argv[i]);
      std::exit(2);
    }
    const std::string prefix = item.substr(0, colon);
    const long count = std::strtol(item.c_str() + colon + 1, nullptr, 10);
    for (long n = 0; n < count; ++n) {
      char num[32];
      std::snprintf(num, sizeof num, "%07ld", n);
      std::string m = prefix + num;
      if (m.size() < kSize) m.append(kSize - m.size(), '.');
      msgs.push_back(std::move(m));
    }
  }
  return msgs;
}

std::unique_ptr<mq::Sender> OpenWhenBound(const std::string& path) {
  mq::SendOptions o;
  o.retry_for = std::chrono::seconds(60);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    mq::Result<std::unique_ptr<mq::Sender>> s = mq::Sender::Open(path, o);
    if (s.ok()) return std::move(*s);
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "mq_bench_py_sender: %s\n", s.status().ToString().c_str());
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

int Datagrams(const std::string& path, const std::vector<std::string>& msgs, bool batched) {
  std::unique_ptr<mq::Sender> s = OpenWhenBound(path);
  std::vector<std::string_view> views(msgs.begin(), msgs.end());
  mq::Status st;
  if (batched) {
    st = s->SendBatch(views);
  } else {
    for (std::string_view m : views)
      if (!(st = s->Send(m)).ok()) break;
  }
  if (!st.ok()) {
    std::fprintf(stderr, "mq_bench_py_sender: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}

// Every message through one ConfirmedSender, SendAsyncBatch 256 at a time
// (the window waits for answers when full), then Flush; every confirmation
// must be OK. mq_bench_py_sender's exit status says whether all were stored.
int Confirmed(const std::string& path, const std::vector<std::string>& msgs) {
  mq::ConfirmedSenderOptions o;
  o.window = 8192;  // sync=batch answers every 10 ms: room for 10 ms of traffic
  o.connect_retry = std::chrono::seconds(60);
  mq::Result<std::unique_ptr<mq::ConfirmedSender>> opened = mq::ConfirmedSender::Open(path, o);
  if (!opened.ok()) {
    std::fprintf(stderr, "mq_bench_py_sender: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<mq::ConfirmedSender> s = std::move(*opened);
  std::vector<std::string_view> views(msgs.begin(), msgs.end());
  std::vector<mq::Confirmation> done;
  size_t ok = 0;
  auto count = [&done, &ok] {
    for (const mq::Confirmation& c : done) ok += c.status.ok() ? 1 : 0;
    done.clear();
  };
  for (size_t i = 0; i < views.size();) {
    const size_t n = std::min<size_t>(256, views.size() - i);
    size_t sent = 0;
    mq::Result<uint64_t> r = s->SendAsyncBatch(std::span<const std::string_view>(views).subspan(i, n), &sent);
    if (!r.ok() && sent == 0) {
      std::fprintf(stderr, "mq_bench_py_sender: %s\n", r.status().ToString().c_str());
      return 1;
    }
    i += sent;
    if (s->Collect(mq::Mailbox::kPoll, &done).ok()) count();
  }
  mq::Status st = s->Flush(&done);
  count();
  if (!st.ok() || ok != msgs.size()) {
    std::fprintf(stderr, "mq_bench_py_sender: %zu of %zu confirmed stored (%s)\n", ok, msgs.size(),
                 st.ToString().c_str());
    return 1;
  }
  return 0;
}

int Zmq(const std::string& endpoint, const std::vector<std::string>& msgs) {
  void* lib = dlopen("libzmq.so.5", RTLD_NOW);
  if (lib == nullptr) {
    std::fprintf(stderr, "mq_bench_py_sender: %s (libzmq5, which python3-zmq installs)\n", dlerror());
    return 1;
  }
  auto sym = [lib](const char* name) {
    void* p = dlsym(lib, name);
    if (p == nullptr) {
      std::fprintf(stderr, "mq_bench_py_sender: libzmq.so.5 has no %s\n", name);
      std::exit(1);
    }
    return p;
  };
  auto ctx_new = reinterpret_cast<void* (*)()>(sym("zmq_ctx_new"));
  auto ctx_term = reinterpret_cast<int (*)(void*)>(sym("zmq_ctx_term"));
  auto socket = reinterpret_cast<void* (*)(void*, int)>(sym("zmq_socket"));
  auto setsockopt = reinterpret_cast<int (*)(void*, int, const void*, size_t)>(sym("zmq_setsockopt"));
  auto connect = reinterpret_cast<int (*)(void*, const char*)>(sym("zmq_connect"));
  auto send = reinterpret_cast<int (*)(void*, const void*, size_t, int)>(sym("zmq_send"));
  auto close = reinterpret_cast<int (*)(void*)>(sym("zmq_close"));
  constexpr int kPush = 8, kLinger = 17, kSndHwm = 23;
  void* ctx = ctx_new();
  void* s = socket(ctx, kPush);
  const int zero = 0, forever = -1;
  if (s == nullptr || setsockopt(s, kSndHwm, &zero, sizeof zero) != 0 ||
      setsockopt(s, kLinger, &forever, sizeof forever) != 0 || connect(s, endpoint.c_str()) != 0) {
    std::fprintf(stderr, "mq_bench_py_sender: zmq socket or connect to %s failed\n", endpoint.c_str());
    return 1;
  }
  for (const std::string& m : msgs) {
    if (send(s, m.data(), m.size(), 0) < 0) {
      std::fprintf(stderr, "mq_bench_py_sender: zmq_send failed\n");
      return 1;
    }
  }
  close(s);
  ctx_term(ctx);  // linger -1: returns once everything went
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: mq_bench_py_sender sendto|sendmmsg|confirmed|zmq TARGET PREFIX:COUNT...\n");
    return 2;
  }
  const std::string kind = argv[1], target = argv[2];
  const std::vector<std::string> msgs = Plan(argc, argv);
  if (kind == "sendto") return Datagrams(target, msgs, false);
  if (kind == "sendmmsg") return Datagrams(target, msgs, true);
  if (kind == "zmq") return Zmq(target, msgs);
  if (kind == "confirmed") return Confirmed(target, msgs);
  std::fprintf(stderr, "mq_bench_py_sender: unknown kind '%s' (sendto, sendmmsg, confirmed, zmq)\n", kind.c_str());
  return 2;
}
