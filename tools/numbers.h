// Numbers in (strict parsing of option values) and out (counted nouns).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mqtool {

// Parses a sequence number strictly: decimal digits only (no sign, no spaces,
// no suffix), 1..2^64-1. `option` names it in the UsageError, e.g.
// "--from: '12x' is not a sequence number (expected 1 to 18446744073709551615)".
uint64_t ParseSeq(std::string_view text, std::string_view option);
// Parses an unsigned decimal strictly, 0..max. Throws UsageError naming `option`.
uint64_t ParseUnsigned(std::string_view text, std::string_view option, uint64_t max = UINT64_MAX);
// Parses seconds with up to millisecond precision ("5", "0.25"), at most a year.
std::chrono::milliseconds ParseSeconds(const std::string& text, const char* option);

// "1 message", "2 messages": `n` and `noun` with an 's' unless n == 1.
std::string Plural(uint64_t n, std::string_view noun);

}  // namespace mqtool
