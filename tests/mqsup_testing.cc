// MqsupRun (mqsup_testing.h).
#include "mqsup_testing.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "mq/run.h"

extern char** environ;

namespace mq::test {
namespace {

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string JsonString(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":\"";
  const size_t at = line.find(k);
  if (at == std::string::npos) return "";
  const size_t from = at + k.size();
  return line.substr(from, line.find('"', from) - from);
}

int64_t JsonInt(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\":";
  const size_t at = line.find(k);
  return at == std::string::npos ? -1 : std::strtoll(line.c_str() + at + k.size(), nullptr, 10);
}

}  // namespace

std::string MqsupPath() { return MQ_MQSUP; }
std::string SupChildPath() { return MQ_SUP_CHILD; }

MqsupRun::MqsupRun() { watch_ = OpenMailboxOrDie(OptionsIn(dir_)); }

MqsupRun::~MqsupRun() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    WaitProcess(pid_, std::chrono::seconds(30));

  }
}

std::string MqsupRun::Child(const std::string& name, const std::vector<std::string>& args,
                            const std::string& extra) const {
  std::string cmd = Quote(SupChildPath());
  for (const std::string& a : args) cmd += ", " + Quote(a);
  return "[[child]]\nname = " + Quote(name) + "\ncommand = [" + cmd + "]\nenv = { ORDER_FILE = " +
         Quote(dir_.File("order")) + " }\nmonitors = [" + Quote(watch()) + "]\n" + extra;
}

void MqsupRun::Configure(const std::string& supervisor_extra, const std::vector<std::string>& children,
                         bool test_backoff) const {
  std::string t = "[supervisor]\ncontrol = " + Quote(control()) + "\n" +
                  (test_backoff ? "backoff = { first = \"1ms\", cap = \"1ms\" }\n" : "") + supervisor_extra;
  for (const std::string& c : children) t += "\n" + c;
  WriteFileOrDie(config(), t);
}

pid_t MqsupRun::Start() {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, dir_.File("mqsup.err").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
  const std::string bin = MqsupPath(), run = "run", cfg = config();
  char* argv[] = {const_cast<char*>(bin.c_str()), const_cast<char*>(run.c_str()), const_cast<char*>(cfg.c_str()),
                  nullptr};
  const int rc = ::posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    ADD_FAILURE() << "spawning mqsup: " << rc;
    pid_ = -1;
  }
  return pid_;
}

int MqsupRun::Wait() {
  const int rc = WaitProcess(pid_, std::chrono::seconds(60));
  pid_ = -1;
  return rc;
}

std::string MqsupRun::Stderr() const {
  return FileExists(dir_.File("mqsup.err")) ? ReadFileOrDie(dir_.File("mqsup.err")) : "";
}

std::vector<StatusRow> MqsupRun::Status() const {
  std::vector<StatusRow> rows;
  auto body = supervisor::AskSupervisor(control(), "status-json", std::chrono::seconds(5));
  if (!body.ok()) return rows;
  std::istringstream in(*body);
  for (std::string line; std::getline(in, line);) {
    StatusRow r;
    r.name = JsonString(line, "name");
    r.state = JsonString(line, "state");
    r.last_exit = JsonString(line, "last_exit");
    r.pid = static_cast<pid_t>(JsonInt(line, "pid"));
    r.restarts = static_cast<uint64_t>(JsonInt(line, "restarts"));
    rows.push_back(r);
  }
  return rows;
}

bool MqsupRun::WaitRunning(size_t n) const {
  return WaitUntil(
      [&] {
        size_t running = 0;
        for (const StatusRow& r : Status()) running += r.state == "running" ? 1 : 0;
        return running == n;
      },
      std::chrono::seconds(20));
}

StatusRow MqsupRun::Row(const std::string& name) const {
  for (const StatusRow& r : Status())
    if (r.name == name) return r;
  return StatusRow{};
}

std::string MqsupRun::NextDown() {
  Message m;
  mq::Status s = watch_->Receive(Pattern::Prefix("DOWN "), std::chrono::seconds(10), &m);
  return s.ok() ? m.payload : "(" + s.ToString() + ")";
}

std::vector<std::string> MqsupRun::Order() const {
  std::vector<std::string> lines;
  if (!FileExists(dir_.File("order"))) return lines;
  std::istringstream in(ReadFileOrDie(dir_.File("order")));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> MqsupRun::Events() const {
  std::vector<std::string> out;
  for (const std::string& l : Order()) {
    const size_t sp = l.find(' ', l.find(' ') + 1);
    out.push_back(l.substr(0, sp));
  }
  return out;
}

}  // namespace mq::test
