#include "nats_options.h"

#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>

#include <vector>

#include "nats_link.h"
#include "nkey.h"
#include "secret_file.h"

namespace mq::bridge {
namespace {

// Debian's bundle of the system's trusted CAs: nats.c trusts nothing until
// it is given a file.
constexpr const char* kSystemCAs = "/etc/ssl/certs/ca-certificates.crt";

std::string Urls(const BridgeConfig& c) {
  std::string u;
  for (const auto& s : c.urls) u += (u.empty() ? "" : ", ") + s;
  return u;
}

Status Credentials(const BridgeConfig& c, NatsOptions* o) {
  natsStatus s = NATS_OK;
  if (!c.creds.empty()) {
    Result<std::string> text = ReadSecretFile(c.creds, "bridge.creds");
    if (!text.ok()) return text.status();
    OPENSSL_cleanse(text->data(), text->size());
    if ((s = natsOptions_SetUserCredentialsFromFiles(o->opts, c.creds.c_str(), nullptr)) != NATS_OK)
      return Status::InvalidArgument(NatsError((c.creds + ": not a NATS creds file (bridge.creds)").c_str(), s));
    o->credentials = "creds " + c.creds;
  }
  if (!c.nkey_seed.empty()) {
    Result<std::string> text = ReadSecretFile(c.nkey_seed, "bridge.nkey_seed");
    if (!text.ok()) return text.status();
    Result<std::string> pub = NkeyUserPublicKey(*text);
    OPENSSL_cleanse(text->data(), text->size());
    if (!pub.ok()) return Status::InvalidArgument(c.nkey_seed + ": " + pub.status().message() + " (bridge.nkey_seed)");
    if ((s = natsOptions_SetNKeyFromSeed(o->opts, pub->c_str(), c.nkey_seed.c_str())) != NATS_OK)
      return Status::InvalidArgument(NatsError((c.nkey_seed + ": the client refused the seed").c_str(), s));
    o->credentials = "nkey_seed " + c.nkey_seed + " (public key " + *pub + ")";
  }
  return Status::OK();
}

Status Tls(const BridgeConfig& c, NatsOptions* o) {
  const TlsOptions& t = c.tls;
  if (!t.required) return Status::OK();
  natsStatus s = natsOptions_SetSecure(o->opts, true);
  if (s != NATS_OK) return Status::Unsupported(NatsError("TLS: this libnats was built without TLS", s));
  const std::string ca = t.ca.empty() ? kSystemCAs : t.ca;
  if (::access(ca.c_str(), R_OK) != 0) {
    const int e = errno;
    return Status::IOError(ca + ": cannot read the trusted CAs (" +
                               (t.ca.empty() ? "the system's bundle; give bridge.tls.ca" : "bridge.tls.ca") + ")",
                           e);
  }
  if ((s = natsOptions_LoadCATrustedCertificates(o->opts, ca.c_str())) != NATS_OK)
    return Status::InvalidArgument(NatsError((ca + ": not PEM CA certificates (bridge.tls.ca)").c_str(), s));
  if (!t.cert.empty()) {
    Result<std::string> key = ReadSecretFile(t.key, "bridge.tls.key");
    if (!key.ok()) return key.status();
    OPENSSL_cleanse(key->data(), key->size());
    if (::access(t.cert.c_str(), R_OK) != 0) {
      const int e = errno;
      return Status::IOError(t.cert + ": cannot read the client certificate (bridge.tls.cert)", e);
    }
    if ((s = natsOptions_LoadCertificatesChain(o->opts, t.cert.c_str(), t.key.c_str())) != NATS_OK)
      return Status::InvalidArgument(
          NatsError((t.cert + ", " + t.key + ": not a PEM certificate and its key (bridge.tls.cert, key)").c_str(), s));
  }
  // nats.c checks the certificate against the host of the URL it connects
  // to (a name, or an address in the certificate's IP names); server_name
  // replaces that host.
  if (!t.server_name.empty() && (s = natsOptions_SetExpectedHostname(o->opts, t.server_name.c_str())) != NATS_OK)
    return Status::InvalidArgument(NatsError(("bridge.tls.server_name " + t.server_name).c_str(), s));
  return Status::OK();
}

}  // namespace

Status MakeNatsOptions(const BridgeConfig& c, NatsOptions* o) {
  if (natsOptions_Create(&o->opts) != NATS_OK) return Status::IOError("nats options", ENOMEM);
  std::vector<const char*> urls;
  for (const auto& u : c.urls) urls.push_back(u.c_str());
  natsOptions_SetServers(o->opts, urls.data(), static_cast<int>(urls.size()));
  // No reconnect inside the client: after a reconnect it sends what was
  // still in its buffers, which could land behind messages the dead server
  // never stored (a swap). The bridge makes a new connection instead, and
  // every route asks the stream where it is (run.cc, Outbound::LinkLost).
  natsOptions_SetAllowReconnect(o->opts, false);
  natsOptions_SetTimeout(o->opts, 2000);
  Status s = Credentials(c, o);
  if (s.ok()) s = Tls(c, o);
  // A file that cannot be read is the configuration's error, as a refused
  // one: the bridge ends at start (run.cc) instead of retrying.
  if (s.code() == Status::Code::kIOError) return Status::InvalidArgument(s.message());
  return s;
}

Status ConnectError(const BridgeConfig& c, const NatsOptions& o, natsStatus s, int* closed_in_tls) {
  const std::string urls = Urls(c);
  *closed_in_tls = (s == NATS_PROTOCOL_ERROR && c.tls.required && c.tls.cert.empty()) ? *closed_in_tls + 1 : 0;
  if (*closed_in_tls >= 3)
    return Status::Denied(NatsError((urls + " closed the connection after the TLS handshake, 3 times in a row: "
                                     "does the server want a client certificate (bridge.tls.cert and key)?").c_str(), s));
  if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED)
    return Status::Denied(NatsError(("NATS refused the credentials at " + urls + " (" +
                                     (o.credentials.empty() ? "none given" : o.credentials) +
                                     "): check that the server's authorization lists this user (an nkey by its public "
                                     "key), or give the right creds or nkey_seed").c_str(), s));
  if (s == NATS_SECURE_CONNECTION_WANTED)
    return Status::Denied(NatsError(("TLS is required ([bridge.tls] or a tls:// URL) but " + urls +
                                     " offers none: enable TLS on the server, or drop [bridge.tls]").c_str(), s));
  if (s == NATS_SECURE_CONNECTION_REQUIRED || (s == NATS_SSL_ERROR && !c.tls.required))
    return Status::Denied(NatsError((urls + " requires TLS: add a [bridge.tls] table with ca = the CA file that "
                                     "signed the server's certificate").c_str(), s));
  if (s == NATS_SSL_ERROR)
    return Status::Denied(NatsError(("TLS with " + urls + " failed (is the server's certificate signed by " +
                                     (c.tls.ca.empty() ? std::string("a CA of ") + kSystemCAs : c.tls.ca) +
                                     ", for the name it is reached by? does the server want a client certificate, "
                                     "bridge.tls.cert and key?)").c_str(), s));
  return Status::OK();
}

}  // namespace mq::bridge
