// History: the exits of the children, in an mq store (history.h).
#include "history.h"

#include <algorithm>
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
  // RecordExit and Trim sync by hand (Sync) where it matters; a trim's
  // consumes are not synced one by one (a consume lost in a crash leaves a
  // record that its BASE covers, which is then skipped), and the store
  // compacts the consumed records away on its own thread.
  o.sync = SyncPolicy::kNone;
  o.compact_min_bytes = 64 << 10;
  std::unique_ptr<Store> store;
  if (Status s = Store::Open(path, o).MoveTo(&store); !s.ok()) return s;
  std::unique_ptr<History> h(new History(std::move(store)));
  // Two passes: the newest BASE first (records it covers are not counted
  // again, even if a crash left them pending), then the exits after it.
  uint64_t upto = 0;
  Status scan = h->store_->ScanPending(0, [&](const MessageView& m) {
    uint64_t u = 0;
    std::string name;
    ChildHistory c;
    if (ParseBase(m.payload, &u, &name, &c)) upto = std::max(upto, u);
    return true;
  });
  if (!scan.ok()) return scan;
  scan = h->store_->ScanPending(0, [&](const MessageView& m) {
    uint64_t u = 0;
    std::string name;
    ChildHistory c;
    if (ParseBase(m.payload, &u, &name, &c)) {
      if (u == upto) {
        h->base_[name] = c;
        h->base_records_.push_back(m.seq);
      } else {
        h->covered_.push_back(m.seq);  // an older BASE: superseded
      }
      return true;
    }
    Exit e{m.seq, "", "", false, 0};
    if (!Parse(m.payload, &e.name, &e.reason, &e.restart, &e.at)) return true;  // not ours: kept, ignored
    if (m.seq <= upto) {
      h->covered_.push_back(m.seq);
    } else {
      h->exits_.push_back(std::move(e));
    }
    return true;
  });
  if (!scan.ok()) return scan;
  h->children_ = h->base_;
  for (const Exit& e : h->exits_) Fold(&h->children_[e.name], e);
  if (h->exits_.size() >= kTrimAt) MQ_RETURN_IF_ERROR(h->Trim());
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

bool History::ParseBase(std::string_view record, uint64_t* upto, std::string* name, ChildHistory* h) {
  if (record.substr(0, 5) != "BASE ") return false;
  const std::string_view r = record.substr(4);
  std::string u, restarts, last, when;
  if (!Field(r, "upto", &u) || !Field(r, "name", name) || !Field(r, "restarts", &restarts) ||
      !Field(r, "last", &last) || !Field(r, "at", &when))
    return false;
  *upto = std::strtoull(u.c_str(), nullptr, 10);
  h->restarts = std::strtoull(restarts.c_str(), nullptr, 10);
  h->last_exit = last == "-" ? "" : last;
  h->last_exit_unix_ms = std::strtoull(when.c_str(), nullptr, 10);
  return *upto > 0;
}

void History::Fold(ChildHistory* c, const Exit& e) {
  if (e.restart) ++c->restarts;
  c->last_exit = e.reason;
  c->last_exit_unix_ms = e.at;
}

Status History::SyncRecorded() {
  if (!unsynced_) return Status::OK();
  MQ_RETURN_IF_ERROR(store_->Sync());
  unsynced_ = false;
  return Status::OK();
}

Status History::RecordExit(const std::string& name, pid_t pid, const ExitReason& reason, bool restart, bool sync) {
  Exit e{0, name, reason.ToString(), restart, UnixMs()};
  const std::string record = "EXIT name=" + name + " pid=" + std::to_string(pid) + " reason=" + e.reason +
                             " restart=" + (restart ? "yes" : "no") + " at=" + std::to_string(e.at);
  if (Status s = store_->Append(record).MoveTo(&e.seq); !s.ok()) return s;
  unsynced_ = true;
  if (sync) MQ_RETURN_IF_ERROR(SyncRecorded());
  Fold(&children_[name], e);
  exits_.push_back(std::move(e));
  if (exits_.size() >= kTrimAt) return Trim();
  return Status::OK();
}

Status History::Trim() {
  // Fold all but the newest kKeep exits into the base, as of the last one
  // folded (upto).
  const size_t fold = exits_.size() - std::min(exits_.size(), kKeep);
  if (fold == 0) return Status::OK();
  std::map<std::string, ChildHistory> base = base_;
  for (size_t i = 0; i < fold; ++i) Fold(&base[exits_[i].name], exits_[i]);
  const uint64_t upto = exits_[fold - 1].seq;
  // 1. The new BASE records, durable before anything they cover is consumed.
  std::vector<std::string> records;
  for (const auto& [name, c] : base)
    records.push_back("BASE upto=" + std::to_string(upto) + " name=" + name + " restarts=" +
                      std::to_string(c.restarts) + " last=" + (c.last_exit.empty() ? "-" : c.last_exit) +
                      " at=" + std::to_string(c.last_exit_unix_ms));
  std::vector<std::string_view> views(records.begin(), records.end());
  uint64_t first = 0;
  if (Status s = store_->AppendBatch(views).MoveTo(&first); !s.ok()) return s;
  unsynced_ = true;
  MQ_RETURN_IF_ERROR(SyncRecorded());
  // 2. What they cover: the folded exits, older BASEs and covered leftovers.
  std::vector<uint64_t> consume = std::move(covered_);
  covered_.clear();
  for (size_t i = 0; i < fold; ++i) consume.push_back(exits_[i].seq);
  base_ = std::move(base);
  exits_.erase(exits_.begin(), exits_.begin() + static_cast<std::ptrdiff_t>(fold));
  consume.insert(consume.end(), base_records_.begin(), base_records_.end());
  base_records_.clear();
  for (size_t i = 0; i < records.size(); ++i) base_records_.push_back(first + i);
  for (uint64_t seq : consume) {
    Status s = store_->Consume(seq);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s;
  }
  return Status::OK();
}

}  // namespace mq::supervisor
