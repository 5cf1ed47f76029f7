// The NATS client's options from the bridge's configuration: the servers,
// credentials (a creds file or an NKey seed, each checked like an ssh key)
// and TLS ([bridge.tls], docs/bridge.md "Security"); and what a refused
// connection means, in words naming the file or URL and what to do.
#pragma once

#include <nats/nats.h>

#include <string>

#include "mq/bridge.h"

namespace mq::bridge {

struct NatsOptions {
  natsOptions* opts = nullptr;
  std::string credentials;  // for errors: "nkey_seed /p/user.nk (public key U...)", or ""
  ~NatsOptions() {
    if (opts != nullptr) natsOptions_Destroy(opts);
  }
};

// Errors (before any connection is tried): a secret file that group or
// others may read, a seed that is not a user seed, a CA, certificate or key
// file that is missing or not PEM. Each message starts with the file's path.
Status MakeNatsOptions(const BridgeConfig& c, NatsOptions* out);

// A failed natsConnection_Connect: OK when it is worth trying again (no
// server yet), else kDenied (credentials refused, the server's certificate
// not trusted, a TLS mismatch) with the URL and the fix named. A server that
// wants a client certificate the config does not give closes the connection
// after the TLS handshake, which looks like a server going away: the third
// such failure in a row (`closed_in_tls` counts them) is taken as that.
Status ConnectError(const BridgeConfig& c, const NatsOptions& o, natsStatus s, int* closed_in_tls);

}  // namespace mq::bridge
