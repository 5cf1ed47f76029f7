// mqtool send: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class SendCommand final : public Command {
 public:
  const char* name() const override { return "send"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("send: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeSendCommand() { return std::make_unique<SendCommand>(); }
}  // namespace mqtool
