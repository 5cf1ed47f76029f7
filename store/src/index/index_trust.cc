// Whether an index describes the used flags of its log (index.h,
// IndexProvesLogFlags; docs/design.md, "Proving the used flags").
#include <string>

#include "index/index.h"
#include "mq/env.h"

namespace mq {

bool IndexProvesLogFlags(const IndexMeta& m, bool legacy, uint64_t session, Directory* dir,
                         const std::string& name, std::string* why) {
  if (!legacy) {
    if (m.session == session) return true;
    *why = "the log's session stamp is " + std::to_string(session) + " but the index describes stamp " +
           std::to_string(m.session) + " (the log was replaced, e.g. restored from a copy)";
    return false;
  }
  if (!m.clean) {
    *why = "a log without header cannot prove its used flags after a crash";
    return false;
  }
  FileInfo now;
  if (!dir->Stat(name).MoveTo(&now).ok() || !now.exists || now.device != m.closed_dev || now.inode != m.closed_ino ||
      now.size != m.closed_size || now.ctime_ns != m.closed_ctime_ns) {
    *why = "the log (without header) changed since the index was closed (its size or ctime differs)";
    return false;
  }
  return true;
}

}  // namespace mq
