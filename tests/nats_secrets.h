// Throwaway secrets for the bridge's security tests, made at test time in a
// test's own directory: a CA, a server certificate (localhost, 127.0.0.1)
// and a client certificate it signed, another CA that signed nothing (the
// `openssl` CLI, EC P-256); and NKey user pairs (libcrypto's ed25519).
#pragma once

#include <string>

namespace mq::test {

// Writes ca.pem, server.pem/.key (for localhost and 127.0.0.1),
// elsewhere.pem/.key (for nats.example.com only), client.pem/.key (keys
// mode 0600), all signed by ca.pem, and other-ca.pem into `dir`. False (with *why) if openssl is missing or failed.
bool MakeTlsFiles(const std::string& dir, std::string* why);

struct NkeyPair {
  std::string seed;        // SU... (58 characters)
  std::string public_key;  // U... (56 characters)
};
// A fresh random user pair, encoded as the NATS tools do.
NkeyPair MakeUserNkey();

}  // namespace mq::test
