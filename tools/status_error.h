// Turning a failed mq::Status into the ToolError that main prints.
#pragma once

#include <string>
#include <string_view>

#include "command.h"
#include "mq/status.h"

namespace mqtool {

// A ToolError for a failed Status. Store messages already start with the
// file's path; when this one does not, "<file>: " is put in front. `what_to_do`
// (if given) is appended as a sentence. main prints "mqtool: " before it.
ToolError StatusError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});
// Throws StatusError(s, file, what_to_do) unless s is OK.
void ThrowIfError(const mq::Status& s, const std::string& file, std::string_view what_to_do = {});

}  // namespace mqtool
