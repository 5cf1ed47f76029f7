// mqtool compact: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class CompactCommand final : public Command {
 public:
  const char* name() const override { return "compact"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("compact: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeCompactCommand() { return std::make_unique<CompactCommand>(); }
}  // namespace mqtool
