// A file that holds a secret (an NKey seed, a creds file, a TLS client key):
// read only if its owner alone may read it, as ssh treats a private key.
#pragma once

#include <string>

#include "mq/status.h"

namespace mq::bridge {

// Opens `path` (symlinks followed, as ssh does), checks that it is a regular
// file of this user or root that neither group nor others may read or write,
// and returns its contents (at most 64 KiB). Errors name the file and the fix:
// kDenied "PATH: readable by group or others (mode 0644); it holds a secret:
// chmod 600 PATH", kNotFound/kIOError "PATH: cannot open: <errno text>".
Result<std::string> ReadSecretFile(const std::string& path, const std::string& field);

}  // namespace mq::bridge
