// mqsup's subcommands, one file each (docs/supervision.md, `mqsup --help`).
// Each returns an exit code of mq/run.h and prints errors as
// "mqsup: FILE: reason".
#pragma once

#include <string>
#include <vector>

#include "mq/status.h"

namespace mqsup {

int Check(const std::string& config);
int Run(const std::string& config);
int Status(const std::string& config, bool json);
int Restart(const std::string& config, const std::string& name);
int Stop(const std::string& config);

// Loads CONFIG for a client subcommand; prints the error and returns false.
bool ControlOf(const std::string& config, std::string* control);
// The exit code and message for a failed AskSupervisor.
int AskFailed(const std::string& config, const std::string& control, const mq::Status& s);

}  // namespace mqsup
