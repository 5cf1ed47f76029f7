// History: the exits of the children, in an mq store (history.h).
#include "history.h"

#include <chrono>
#include <cstdlib>

namespace mq::supervisor {
namespace {

uint64_t UnixMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// The value of " key=" in `r`, up to the next space.
bool Field(std::string_view r, std::string_view key, std::string* out) {
  const std::string k = " " + std::string(key) + "=";
  const size_t at = r.find(k);
  if (at == std::string_view::npos) return false;
  const size_t from = at + k.size();
  const size_t end = r.find(' ', from);
  *out = std::string(r.substr(from, end == std::string_view::npos ? std::string_view::npos : end - from));
  return !out->empty();
}

}  // namespace

Result<std::unique_ptr<History>> History::Open(const std::string& path) {
  StoreOptions o;
  o.sync = SyncPolicy::kAlways;
  std::unique_ptr<Store> store;
  if (Status s = Store::Open(path, o).MoveTo(&store); !s.ok()) return s;
  std::unique_ptr<History> h(new History(std::move(store)));
  Status scan = h->store_->ScanPending(0, [&](const MessageView& m) {
    h->Apply(m.payload);
    return true;
  });
  if (!scan.ok()) return scan;
  return h;
}

bool History::Parse(std::string_view record, std::string* name, std::string* reason, bool* restart, uint64_t* at) {
  if (record.substr(0, 5) != "EXIT ") return false;
  const std::string_view r = record.substr(4);
  std::string flag, when;
  if (!Field(r, "name", name) || !Field(r, "reason", reason) || !Field(r, "restart", &flag) ||
      !Field(r, "at", &when))
    return false;
  *restart = flag == "yes";
  *at = std::strtoull(when.c_str(), nullptr, 10);
  return true;
}

void History::Apply(std::string_view record) {
  std::string name, reason;
  bool restart = false;
  uint64_t at = 0;
  if (!Parse(record, &name, &reason, &restart, &at)) return;  // not ours: ignored
  ChildHistory& c = children_[name];
  if (restart) ++c.restarts;
  c.last_exit = reason;
  c.last_exit_unix_ms = at;
}

Status History::RecordExit(const std::string& name, pid_t pid, const ExitReason& reason, bool restart) {
  const std::string record = "EXIT name=" + name + " pid=" + std::to_string(pid) + " reason=" + reason.ToString() +
                             " restart=" + (restart ? "yes" : "no") + " at=" + std::to_string(UnixMs());
  uint64_t seq = 0;
  if (Status s = store_->Append(record).MoveTo(&seq); !s.ok()) return s;  // kAlways: durable on return
  Apply(record);
  return Status::OK();
}

}  // namespace mq::supervisor
