#include "mq/store.h"

namespace mq {

Result<SyncPolicy> ParseSyncPolicy(std::string_view s) {
  if (s == "always") return SyncPolicy::kAlways;
  if (s == "batch") return SyncPolicy::kBatch;
  if (s == "none") return SyncPolicy::kNone;
  return Status::InvalidArgument("sync policy '" + std::string(s) + "' is not one of: always, batch, none");
}

const char* SyncPolicyName(SyncPolicy p) {
  switch (p) {
    case SyncPolicy::kAlways: return "always";
    case SyncPolicy::kBatch: return "batch";
    case SyncPolicy::kNone: return "none";
  }
  return "?";
}

Result<RecoveryMode> ParseRecoveryMode(std::string_view s) {
  if (s == "tolerate-tail") return RecoveryMode::kTolerateTornTail;
  if (s == "absolute") return RecoveryMode::kAbsoluteConsistency;
  if (s == "salvage") return RecoveryMode::kSalvage;
  return Status::InvalidArgument("recovery mode '" + std::string(s) +
                                 "' is not one of: tolerate-tail, absolute, salvage");
}

const char* RecoveryModeName(RecoveryMode m) {
  switch (m) {
    case RecoveryMode::kTolerateTornTail: return "tolerate-tail";
    case RecoveryMode::kAbsoluteConsistency: return "absolute";
    case RecoveryMode::kSalvage: return "salvage";
  }
  return "?";
}

const char* IndexActionName(IndexAction a) {
  switch (a) {
    case IndexAction::kNone: return "none";
    case IndexAction::kTrusted: return "trusted";
    case IndexAction::kCaughtUp: return "caught up";
    case IndexAction::kRebuilt: return "rebuilt";
  }
  return "?";
}

std::string DescribeIndexAction(const OpenReport& r) {
  std::string s = IndexActionName(r.index_action);
  if (!r.index_reason.empty()) s += ": " + r.index_reason;
  return s;
}

}  // namespace mq
