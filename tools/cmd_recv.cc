// mqtool recv: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class RecvCommand final : public Command {
 public:
  const char* name() const override { return "recv"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("recv: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeRecvCommand() { return std::make_unique<RecvCommand>(); }
}  // namespace mqtool
