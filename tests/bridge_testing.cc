#include "bridge_testing.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>

namespace mq::test {

void BridgeProcess::Start() {
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) ::dup2(fd, 2);
    ::execl(MQBRIDGE_PATH, MQBRIDGE_PATH, "run", config_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

void BridgeProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  (void)WaitPidFor(pid_, 10000);
  pid_ = -1;
}

int BridgeProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int st = WaitPidFor(pid_, 10000);
  if (st == -1) {
    ::kill(pid_, SIGKILL);
    st = WaitPidFor(pid_, 10000);
  }
  pid_ = -1;
  return st;
}

int BridgeProcess::WaitExit(int ms) {
  if (pid_ <= 0) return -1;
  const int st = WaitPidFor(pid_, ms);
  if (st != -1) pid_ = -1;
  return st;
}

TwoHosts::TwoHosts(const std::string& nats_url, const std::string& bridge_extra, bool second_actor) {
  const std::string common =
      "urls = [\"" + nats_url + "\"]\nstream = \"MQ\"\npublish_timeout_ms = 2000\n" + bridge_extra;
  WriteFileOrDie(dir_.File("a.toml"), "[bridge]\nnode = \"A\"\nstate = \"" + dir_.File("a-state") + "\"\n" + common +
                                          "[[remote]]\nnode = \"B\"\nactor = \"orders\"\nsocket = \"" + a_proxy() + "\"\n" +
                                          (second_actor ? "[[remote]]\nnode = \"B\"\nactor = \"audit\"\nsocket = \"" +
                                                              a_audit_proxy() + "\"\n"
                                                        : ""));
  WriteFileOrDie(dir_.File("b.toml"), "[bridge]\nnode = \"B\"\nstate = \"" + dir_.File("b-state") + "\"\n" + common +
                                          "[[local]]\nactor = \"orders\"\nsocket = \"" + dir_.File("b-orders.sock") + "\"\n" +
                                          (second_actor ? "[[local]]\nactor = \"audit\"\nsocket = \"" + b_audit() + "\"\n" : ""));
  a_ = std::make_unique<BridgeProcess>(dir_.File("a.toml"), dir_.File("a.log"));
  b_ = std::make_unique<BridgeProcess>(dir_.File("b.toml"), dir_.File("b.log"));
}

Status TwoHosts::OpenActor() {
  MailboxOptions o;
  o.socket_path = dir_.File("b-orders.sock");
  o.queue_path = dir_.File("b-orders.q");
  auto mb = Mailbox::Open(o);
  if (!mb.ok()) return mb.status();
  actor_ = *std::move(mb);
  return Status::OK();
}

void TwoHosts::CloseActor() {
  if (actor_) (void)actor_->Close();
  actor_.reset();
}

bool TwoHosts::WaitForProxy() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  struct stat st;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::stat(a_proxy().c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int TwoHosts::BindHungActor() const {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", b_actor().c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

::testing::AssertionResult TwoHosts::StartBoth() {
  Status s = OpenActor();
  if (!s.ok()) return ::testing::AssertionFailure() << "opening the actor on B: " << s.ToString();
  a().Start();
  b().Start();
  if (!WaitForProxy()) return ::testing::AssertionFailure() << "A's proxy socket did not appear\n" << Logs();
  return ::testing::AssertionSuccess();
}

std::vector<std::string> TwoHosts::DeliverAllThenStopB(int senders, int per_sender, int deadline_s) {
  const ::testing::AssertionResult started = StartBoth();
  if (!started) {
    ADD_FAILURE() << started.message();
    return {};
  }
  std::vector<std::string> sent = Send(senders, per_sender, deadline_s);
  EXPECT_EQ(sent.size(), static_cast<size_t>(senders) * static_cast<size_t>(per_sender)) << Logs();
  StartReceiving();
  (void)StopReceiving(sent, deadline_s, 0);
  EXPECT_EQ(b().Stop(), 0) << Logs();
  return sent;
}

std::vector<std::string> TwoHosts::Send(int senders, int per_sender, int deadline_s) {
  std::vector<std::vector<std::string>> confirmed(static_cast<size_t>(senders));
  std::vector<std::thread> threads;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_s);
  for (int s = 0; s < senders; ++s) {
    threads.emplace_back([&, s] {
      ConfirmedSenderOptions o;
      o.connect_retry = std::chrono::milliseconds(10000);
      o.reply_timeout = std::chrono::milliseconds(3000);
      std::unique_ptr<ConfirmedSender> snd;
      for (int i = 0; i < per_sender; ++i) {
        for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
          if (!snd) {
            auto opened = ConfirmedSender::Open(a_proxy(), o);
            if (!opened.ok()) {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              continue;
            }
            snd = *std::move(opened);
          }
          const std::string p = std::to_string(s) + ":" + std::to_string(i) + ":" + std::to_string(attempt);
          if (snd->SendConfirmed(p, std::chrono::milliseconds(3000)).ok()) {
            confirmed[static_cast<size_t>(s)].push_back(p);
            break;
          }
          snd.reset();  // a fresh sender: the proxy may have restarted
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> all;
  for (auto& v : confirmed) all.insert(all.end(), v.begin(), v.end());
  return all;
}

void TwoHosts::ReceiveLoop(std::atomic<bool>* stop) {
  while (!stop->load()) {
    Message m;
    const Status s = actor_->Take(Pattern::Any(), std::chrono::milliseconds(50), &m);
    if (!s.ok()) continue;
    {
      std::lock_guard<std::mutex> l(mu_);
      got_.count[m.payload]++;
      const size_t c1 = m.payload.find(':'), c2 = m.payload.find(':', c1 + 1);
      if (got_.count[m.payload] == 1)
        got_.order[std::stoi(m.payload.substr(0, c1))].push_back(std::stoi(m.payload.substr(c1 + 1, c2 - c1 - 1)));
    }
    (void)actor_->Ack(m.seq);
  }
}

void TwoHosts::StartReceiving() {
  stop_ = false;
  receiver_ = std::thread([this] { ReceiveLoop(&stop_); });
}

Received TwoHosts::StopReceiving(const std::vector<std::string>& want, int deadline_s, int settle_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_s);
  for (;;) {
    size_t have = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& w : want) have += got_.count.count(w);
    }
    if (have == want.size() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Anything still coming now is a duplicate (or a late resend): look for it.
  std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));
  stop_ = true;
  receiver_.join();
  std::lock_guard<std::mutex> l(mu_);
  return got_;
}

Received TwoHosts::Receive(const std::vector<std::string>& want, int deadline_s, int settle_ms) {
  StartReceiving();
  return StopReceiving(want, deadline_s, settle_ms);
}

std::string TwoHosts::Logs() const {
  std::string out;
  for (const char* f : {"a.log", "b.log"})
    if (FileExists(dir_.File(f))) out += std::string("--- ") + f + "\n" + ReadFileOrDie(dir_.File(f));
  return out;
}

}  // namespace mq::test
