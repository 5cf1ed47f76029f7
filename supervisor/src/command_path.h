// Where a child's command is: the command itself if it names a path, else
// the first executable of that name in $PATH (execvp's search), as both the
// config check and the spawn must agree on it.
#pragma once

#include <optional>
#include <string>

namespace mq::supervisor {

// The executable `cmd` names, or nullopt if there is none (not executable,
// or not found in $PATH; an unset PATH searches /usr/local/bin:/usr/bin:/bin).
std::optional<std::string> FindExecutable(const std::string& cmd);

}  // namespace mq::supervisor
