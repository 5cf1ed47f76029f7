// Helpers for the mailbox tests: mailboxes in a temporary directory, waiting
// for a condition with a bound, and child processes (the helper program,
// mqtool, python3) run with a time limit.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mq/mailbox.h"
#include "test_util.h"

namespace mq::test {

// Socket <dir>/sock, queue <dir>/queue, sync none (tests that need another
// policy set it).
MailboxOptions OptionsIn(const TempDir& dir);
std::unique_ptr<Mailbox> OpenMailboxOrDie(const MailboxOptions& options);

// A fixture with a temporary directory and OptionsIn(it): tests name it with
// `using TheirTest = test::MailboxTest;`.
class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override { opt_ = OptionsIn(dir_); }
  TempDir dir_;
  MailboxOptions opt_;
};

// Payload i: `tag`, its number, ':' and filler, 3 to ~300 bytes long, so
// that a batch mixes sizes.
std::string VariedPayload(size_t i, char tag = 'p');
std::vector<std::string> VariedPayloads(size_t n, char tag = 'p');

// Receives `n` messages matching `p` (each waiting up to 5 s) and returns
// their payloads; a failure is reported and ends the list early.
std::vector<std::string> ReceivePayloads(Mailbox* mb, const Pattern& p, size_t n);

// Polls `cond` every few milliseconds until it holds or `limit` passes.
bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit = std::chrono::seconds(10));

struct ProcResult {
  int exit_code = -1;  // -1: killed by a signal or by the time limit
  bool timed_out = false;
  std::string out, err;
};

// Runs argv[0] (a path) with `input` on stdin, captures stdout and stderr,
// and kills it after `limit`.
ProcResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                      std::chrono::milliseconds limit = std::chrono::seconds(30));

// Starts argv[0] with stdout appended to `stdout_path` (or /dev/null if
// empty) and stderr inherited. Returns the pid (or -1 and a test failure).
pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& stdout_path = "");
// Waits for pid up to `limit` (then SIGKILLs it); returns its exit code, or
// -1 if a signal ended it.
int WaitProcess(pid_t pid, std::chrono::milliseconds limit = std::chrono::seconds(30));

// Paths set by tests/CMakeLists.txt.
std::string HelperPath();  // mailbox_helper
std::string MqtoolPath();

// Binds an AF_UNIX socket of `type` (SOCK_DGRAM by default) at `path` as a
// supervisor does for the socket hand-off (SO_PASSCRED before bind). Returns
// the fd, or -1 with a test failure.
int BindSupervisedSocket(const std::string& path, int type = SOCK_DGRAM);

}  // namespace mq::test
