#include "command_line.h"

#include <cstdio>
#include <sstream>
#include <utility>

#include "command.h"
#include "escape.h"

namespace mqtool {

po::options_description OptionsWithHelp() {
  po::options_description options("options");
  options.add_options()("help,h", "print this help and exit");
  return options;
}

bool ParseArgs(const std::vector<std::string>& args, const po::options_description& options,
               const std::vector<std::string>& positional, const std::string& usage,
               const std::string& summary, po::variables_map* vm) {
  po::options_description all;
  all.add(options);
  po::positional_options_description pos;
  for (const auto& name : positional) {
    all.add_options()(name.c_str(), po::value<std::string>(), "");
    pos.add(name.c_str(), 1);
  }
  try {
    auto parsed = po::command_line_parser(args)
                      .options(all)
                      .positional(pos)
                      .style(po::command_line_style::default_style &
                             ~po::command_line_style::allow_guessing)
                      .run();
    po::store(parsed, *vm);
    if (vm->count("help")) {
      std::ostringstream os;
      os << options;
      std::printf("usage: mqtool %s\n%s\n\n%s", usage.c_str(), summary.c_str(), os.str().c_str());
      std::fflush(stdout);
      return false;
    }
    po::notify(*vm);
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("too many arguments; usage: mqtool " + usage);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return true;
}

std::string Required(const po::variables_map& vm, const std::string& name, const std::string& shown) {
  if (!vm.count(name)) throw UsageError("missing " + shown);
  const std::string& v = vm[name].as<std::string>();
  if (v.empty()) throw UsageError("empty " + shown);
  return v;
}

mq::Pattern ParseMatch(std::string_view expr) {
  if (expr == "any") return mq::Pattern::Any();
  const size_t colon = expr.find(':');
  const std::string_view kind = expr.substr(0, colon);
  if (colon == std::string_view::npos || (kind != "key" && kind != "prefix"))
    throw UsageError("--match: '" + EscapePayload(expr.substr(0, 60)) +
                     "' is not a pattern; expected any, key:K or prefix:P");
  // "key:" and "prefix:" hold no backslash: unescaping the whole expression
  // names the byte of a bad escape as it stands in the argument.
  std::string text = UnescapePayload(expr, "--match").substr(colon + 1);
  return kind == "key" ? mq::Pattern::Key(std::move(text)) : mq::Pattern::Prefix(std::move(text));
}

}  // namespace mqtool
