// mqtool dump: placeholder until its unit lands (see docs/mqtool.md).
#include "command.h"

namespace mqtool {
namespace {
class DumpCommand final : public Command {
 public:
  const char* name() const override { return "dump"; }
  const char* group() const override { return "admin"; }
  const char* summary() const override { return "(not built yet)"; }
  int Run(const std::vector<std::string>&) override { throw ToolError("dump: not built yet"); }
};
}  // namespace
std::unique_ptr<Command> MakeDumpCommand() { return std::make_unique<DumpCommand>(); }
}  // namespace mqtool
