// NKey user seeds (the `SU...` line `nk -gen user` and nsc write): checked
// and turned into the user's public key (`U...`), which nats.c sends in
// CONNECT beside the nonce signed with the seed.
// Encoding: base32 (RFC 4648, no padding) of prefix bytes, the 32-byte
// ed25519 seed (or public key) and a CRC-16/XMODEM, little-endian.
#pragma once

#include <string>

#include "mq/status.h"

namespace mq::bridge {

// The public key of the user seed in `text` (a file's contents: the seed's
// line, surrounding blank space ignored). kInvalidArgument saying what is
// wrong (not a seed, a bad checksum, a seed of another kind than a user).
Result<std::string> NkeyUserPublicKey(const std::string& text);

}  // namespace mq::bridge
