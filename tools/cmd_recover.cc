// mqtool recover: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class RecoverCommand final : public Command {
 public:
  const char* name() const override { return "recover"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("recover: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeRecoverCommand() { return std::make_unique<RecoverCommand>(); }
}  // namespace mqtool
