// A subcommand's command line on Boost.Program_options: parsing with usage
// errors and --help, required arguments, and the --match pattern.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "mq/pattern.h"

namespace mqtool {

namespace po = boost::program_options;

// Parses args against `options`, taking the positional arguments named in
// `positional` (each once, in order; e.g. {"queue"}). Boost's errors (unknown
// option, missing value, too many arguments) become a UsageError. Returns
// false without notifying when --help was given, after printing
// "usage: mqtool <usage>\n<summary>\n\n<options>" to stdout; the caller then
// returns kExitOk. `options` should include a "help" switch (OptionsWithHelp).
bool ParseArgs(const std::vector<std::string>& args, const po::options_description& options,
               const std::vector<std::string>& positional, const std::string& usage,
               const std::string& summary, po::variables_map* vm);
// An options description titled "options" that holds "help,h".
po::options_description OptionsWithHelp();
// The value of a required positional/option: UsageError "missing QUEUE" if
// absent, "empty QUEUE" if given as "".
std::string Required(const po::variables_map& vm, const std::string& name, const std::string& shown);

// A --match expression: any, key:K or prefix:P, where K and P use the escapes
// of UnescapePayload (the ones dump's text output writes, \r included).
// Throws UsageError naming --match.
mq::Pattern ParseMatch(std::string_view expr);

}  // namespace mqtool
