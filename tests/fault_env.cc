#include "fault_env.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <random>
#include <set>
#include <string_view>
#include <vector>

namespace mq::test {
namespace {

// Boot ids reported after simulated power losses: unique within the process.
std::atomic<uint64_t> g_boots{0};

Status SimulatedCrash(const std::string& what) {
  return Status::IOError(what + ": simulated crash", EIO);
}

// The bytes of page `p` of `s` (fewer, or none, past its end).
std::string_view PageOf(const std::string& s, size_t p) {
  const size_t b = std::min(s.size(), p * kPageSize);
  return std::string_view(s).substr(b, kPageSize);
}

}  // namespace

std::string PagesAfterPowerLoss(const std::string& synced, const std::string& live, const PowerLossOptions& opt,
                                uint64_t file_seed) {
  std::mt19937_64 rng(opt.seed * 0x9E3779B97F4A7C15ull ^ file_seed);
  const size_t span = std::max(synced.size(), live.size());
  std::vector<size_t> dirty;
  for (size_t p = 0; p * kPageSize < span; ++p)
    if (PageOf(synced, p) != PageOf(live, p)) dirty.push_back(p);
  if (dirty.empty()) return live;
  // Which dirty pages hold their new bytes, and how many of them (the torn
  // page: a prefix of whole 512-byte sectors, at least one, never all).
  std::vector<std::pair<size_t, size_t>> kept;  // page, bytes of it from `live`
  size_t size = (rng() & 1) != 0 ? live.size() : synced.size();
  if (opt.pages == PowerLossOptions::Pages::kSubset) {
    for (size_t p : dirty)
      if ((rng() & 1) != 0) kept.emplace_back(p, kPageSize);
  } else {
    for (size_t p : dirty) kept.emplace_back(p, kPageSize);
    const size_t sectors = kPageSize / 512;
    kept.back().second = 512 * (1 + rng() % (sectors - 1));
    size = live.size();
    // A torn page at the end of the file: the size may stop where its bytes do.
    const size_t torn_end = dirty.back() * kPageSize + kept.back().second;
    if (torn_end < live.size() && dirty.back() * kPageSize + kPageSize >= live.size() && (rng() & 1) != 0)
      size = std::max(synced.size(), torn_end);
  }
  for (const auto& [p, n] : kept) size = std::max(size, std::min(live.size(), p * kPageSize + n));
  std::string out(size, '\0');
  out.replace(0, std::min(size, synced.size()), synced, 0, std::min(size, synced.size()));
  for (const auto& [p, n] : kept) {
    const size_t b = p * kPageSize;
    if (b >= size) continue;
    const size_t e = std::min(size, b + n);
    // The new bytes of the page; past the end of `live` (a truncate), zeros.
    for (size_t i = b; i < e; ++i) out[i] = i < live.size() ? live[i] : '\0';
  }
  return out;
}

// One file (an inode). `synced` is what survives a power loss; `pending` are
// the changes since the last sync, in the order they completed.
struct FaultEnv::Node {
  struct Change {
    bool is_write = false;
    uint64_t offset = 0;  // write: where; truncate: the new size
    std::string data;
  };
  std::string synced;
  std::vector<Change> pending;
  mode_t mode = 0600;

  static void Apply(const Change& c, std::string* content, size_t keep) {
    if (!c.is_write) {
      content->resize(static_cast<size_t>(c.offset));
      return;
    }
    size_t n = std::min(keep, c.data.size());
    size_t end = static_cast<size_t>(c.offset) + n;
    if (content->size() < end) content->resize(end, '\0');
    content->replace(static_cast<size_t>(c.offset), n, c.data, 0, n);
  }
};

class FaultEnv::FaultFile final : public File {
 public:
  FaultFile(FaultEnv* env, std::unique_ptr<File> inner, std::shared_ptr<Node> node, uint64_t epoch)
      : env_(env), inner_(std::move(inner)), node_(std::move(node)), epoch_(epoch) {}

  Status Read(uint64_t offset, size_t n, char* dst, size_t* got) override {
    *got = 0;
    MQ_RETURN_IF_ERROR(CheckAlive("read " + path() + " at offset " + std::to_string(offset)));
    {
      std::lock_guard<std::mutex> g(env_->mu_);
      ++env_->reads_;
    }
    return inner_->Read(offset, n, dst, got);
  }

  Status Write(uint64_t offset, const char* src, size_t n) override {
    const std::string what = "write at offset " + std::to_string(offset);
    MQ_RETURN_IF_ERROR(env_->BeginOp(what + " of " + std::to_string(n) + " bytes to " + path()));
    MQ_RETURN_IF_ERROR(CheckAlive(path()));
    bool partial = false;
    Status injected;
    {
      std::lock_guard<std::mutex> g(env_->mu_);
      injected = env_->Inject(&env_->write_fault_, path(), what, &partial);
    }
    size_t todo = injected.ok() ? n : (partial ? n / 2 : 0);
    if (todo > 0) {
      Status s = inner_->Write(offset, src, todo);
      if (!s.ok()) return s;
      std::lock_guard<std::mutex> g(env_->mu_);
      node_->pending.push_back(Node::Change{true, offset, std::string(src, todo)});
    }
    return injected;
  }

  Status Sync() override {
    MQ_RETURN_IF_ERROR(env_->BeginOp("sync " + path()));
    MQ_RETURN_IF_ERROR(CheckAlive(path()));
    size_t covered = 0;
    {
      std::lock_guard<std::mutex> g(env_->mu_);
      bool partial = false;
      MQ_RETURN_IF_ERROR(env_->Inject(&env_->sync_fault_, path(), "fdatasync", &partial));
      covered = node_->pending.size();  // changes that completed before this sync began
    }
    if (env_->real_syncs_) MQ_RETURN_IF_ERROR(inner_->Sync());
    std::lock_guard<std::mutex> g(env_->mu_);
    for (size_t i = 0; i < covered; ++i) Node::Apply(node_->pending[i], &node_->synced, SIZE_MAX);
    node_->pending.erase(node_->pending.begin(), node_->pending.begin() + static_cast<std::ptrdiff_t>(covered));
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    MQ_RETURN_IF_ERROR(env_->BeginOp("truncate " + path() + " to " + std::to_string(size)));
    MQ_RETURN_IF_ERROR(CheckAlive(path()));
    MQ_RETURN_IF_ERROR(inner_->Truncate(size));
    std::lock_guard<std::mutex> g(env_->mu_);
    node_->pending.push_back(Node::Change{false, size, {}});
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    MQ_RETURN_IF_ERROR(CheckAlive("size of " + path()));
    return inner_->Size();
  }

  const std::string& path() const override { return inner_->path(); }

 private:
  Status CheckAlive(const std::string& what) {
    std::lock_guard<std::mutex> g(env_->mu_);
    if (env_->crashed_) return SimulatedCrash(what);
    if (epoch_ != env_->epoch_)
      return Status::IOError(what + ": file handle opened before a simulated power loss; reopen the file", EIO);
    return Status::OK();
  }

  FaultEnv* env_;
  std::unique_ptr<File> inner_;
  std::shared_ptr<Node> node_;
  uint64_t epoch_;
};

FaultEnv::FaultEnv(Env* base, bool real_syncs) : base_(base), real_syncs_(real_syncs), boot_id_(base->BootId()) {}

FaultEnv::~FaultEnv() = default;

// ---- crash points ----

uint64_t FaultEnv::operations() const {
  std::lock_guard<std::mutex> g(mu_);
  return ops_;
}

uint64_t FaultEnv::reads() const {
  std::lock_guard<std::mutex> g(mu_);
  return reads_;
}

void FaultEnv::CrashAtOperation(uint64_t k) {
  std::lock_guard<std::mutex> g(mu_);
  crash_at_ = k;
}

void FaultEnv::CrashNow() {
  std::lock_guard<std::mutex> g(mu_);
  if (!crashed_) {
    crashed_ = true;
    crash_point_ = "after operation " + std::to_string(ops_);
  }
}

bool FaultEnv::crashed() const {
  std::lock_guard<std::mutex> g(mu_);
  return crashed_;
}

std::string FaultEnv::crash_point() const {
  std::lock_guard<std::mutex> g(mu_);
  return crash_point_;
}

void FaultEnv::SetObserver(std::function<void(uint64_t, const std::string&)> fn) {
  std::lock_guard<std::mutex> g(mu_);
  observer_ = std::move(fn);
}

Status FaultEnv::BeginOp(const std::string& what) {
  uint64_t n = 0;
  std::function<void(uint64_t, const std::string&)> observer;
  {
    std::lock_guard<std::mutex> g(mu_);
    n = ++ops_;
    observer = observer_;
  }
  if (observer) observer(n, what);
  std::lock_guard<std::mutex> g(mu_);
  if (!crashed_ && crash_at_ != 0 && n >= crash_at_) {
    crashed_ = true;
    crash_point_ = "operation " + std::to_string(n) + ": " + what;
  }
  if (crashed_) return SimulatedCrash(what);
  return Status::OK();
}

Status FaultEnv::CheckNotCrashed(const std::string& what) const {
  std::lock_guard<std::mutex> g(mu_);
  if (crashed_) return SimulatedCrash(what);
  return Status::OK();
}

// ---- errors on demand ----

void FaultEnv::InjectWriteFault(const Fault& f) {
  std::lock_guard<std::mutex> g(mu_);
  write_fault_ = Injection{f, 0};
}

void FaultEnv::InjectSyncFault(const Fault& f) {
  std::lock_guard<std::mutex> g(mu_);
  sync_fault_ = Injection{f, 0};
}

void FaultEnv::InjectSyncDirFault(const Fault& f) {
  std::lock_guard<std::mutex> g(mu_);
  syncdir_fault_ = Injection{f, 0};
}

void FaultEnv::ClearFaults() {
  std::lock_guard<std::mutex> g(mu_);
  write_fault_ = sync_fault_ = syncdir_fault_ = Injection{};
}

uint64_t FaultEnv::injected_failures() const {
  std::lock_guard<std::mutex> g(mu_);
  return injected_;
}

Status FaultEnv::Inject(Injection* inj, const std::string& path, const std::string& what, bool* partial) {
  *partial = false;
  const Fault& f = inj->fault;
  if (f.err == 0) return Status::OK();
  if (!f.path_filter.empty() && path.find(f.path_filter) == std::string::npos) return Status::OK();
  ++inj->seen;
  if (inj->seen < f.nth || (inj->seen > f.nth && !f.persistent)) return Status::OK();
  ++injected_;
  *partial = f.partial;
  return Status::IOError(path + ": " + what + " (injected fault)", f.err);
}

// ---- tracking ----

std::shared_ptr<FaultEnv::Node> FaultEnv::TrackLocked(Directory* dir, const std::string& name) {
  const std::string path = dir->PathOf(name);
  auto it = live_.find(path);
  if (it != live_.end()) return it->second;
  FileInfo info;
  if (!dir->Stat(name).MoveTo(&info).ok() || !info.exists || !info.is_regular) return nullptr;
  auto node = std::make_shared<Node>();
  node->mode = info.mode & 07777;
  std::unique_ptr<File> f;
  if (dir->OpenFile(name, OpenMode::kReadOnly, 0).MoveTo(&f).ok()) {
    node->synced.resize(static_cast<size_t>(info.size));
    size_t got = 0;
    if (!f->Read(0, node->synced.size(), node->synced.data(), &got).ok()) got = 0;
    node->synced.resize(got);
  }
  live_[path] = node;
  if (durable_.count(path) == 0) durable_[path] = node;  // it was there before we looked
  return node;
}

Status FaultEnv::BaseDirOf(const std::string& path, std::unique_ptr<Directory>* out) {
  return base_->OpenDirectory(DirName(path)).MoveTo(out);
}

// ---- mq::Env ----

// A directory of `base`, with every call passed through the model. The
// inner directory's path() is the directory's key in the model.
class FaultEnv::FaultDirectory final : public Directory {
 public:
  FaultDirectory(FaultEnv* env, std::unique_ptr<Directory> inner) : env_(env), inner_(std::move(inner)) {}

  int native_handle() const override { return inner_->native_handle(); }
  const std::string& path() const override { return inner_->path(); }

  Result<std::unique_ptr<File>> OpenFile(const std::string& name, OpenMode mode, mode_t perms) override {
    const std::string path = PathOf(name);
    const bool creates = mode == OpenMode::kCreateNew || mode == OpenMode::kCreateOrTruncate;
    if (creates) {
      MQ_RETURN_IF_ERROR(
          env_->BeginOp(std::string(mode == OpenMode::kCreateNew ? "create " : "create or truncate ") + path));
    } else {
      MQ_RETURN_IF_ERROR(env_->CheckNotCrashed("open " + path));
    }
    std::lock_guard<std::mutex> g(env_->mu_);
    std::shared_ptr<Node> node;
    if (mode == OpenMode::kCreateOrTruncate) node = env_->TrackLocked(inner_.get(), name);  // its old bytes may be durable
    std::unique_ptr<File> inner;
    MQ_ASSIGN_OR_RETURN(inner, inner_->OpenFile(name, mode, perms));
    if (mode == OpenMode::kCreateNew || (mode == OpenMode::kCreateOrTruncate && node == nullptr)) {
      node = std::make_shared<Node>();
      node->mode = perms;
      env_->live_[path] = node;
    } else if (mode == OpenMode::kCreateOrTruncate) {
      node->pending.push_back(Node::Change{false, 0, {}});
    } else {
      node = env_->TrackLocked(inner_.get(), name);
      if (node == nullptr) return Status::IOError(path + ": opened but cannot be tracked", EIO);
    }
    return std::unique_ptr<File>(std::make_unique<FaultFile>(env_, std::move(inner), std::move(node), env_->epoch_));
  }

  Result<FileInfo> Stat(const std::string& name) override {
    MQ_RETURN_IF_ERROR(env_->CheckNotCrashed("stat " + PathOf(name)));
    return inner_->Stat(name);
  }

  Status Sync() override {
    const std::string& dir = path();
    MQ_RETURN_IF_ERROR(env_->BeginOp("sync directory " + dir));
    std::lock_guard<std::mutex> g(env_->mu_);
    bool partial = false;
    MQ_RETURN_IF_ERROR(env_->Inject(&env_->syncdir_fault_, dir, "fsync directory", &partial));
    if (env_->real_syncs_) MQ_RETURN_IF_ERROR(inner_->Sync());
    std::set<std::string> names;
    for (const auto& [p, n] : env_->live_) names.insert(p);
    for (const auto& [p, n] : env_->durable_) names.insert(p);
    for (const std::string& p : names) {
      if (DirName(p) != dir) continue;
      auto it = env_->live_.find(p);
      if (it != env_->live_.end()) {
        env_->durable_[p] = it->second;
      } else {
        env_->durable_.erase(p);
      }
    }
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    const std::string from_path = PathOf(from), to_path = PathOf(to);
    MQ_RETURN_IF_ERROR(env_->BeginOp("rename " + from_path + " to " + to_path));
    std::lock_guard<std::mutex> g(env_->mu_);
    std::shared_ptr<Node> node = env_->TrackLocked(inner_.get(), from);
    (void)env_->TrackLocked(inner_.get(), to);  // what it replaces stays durable until the directory is synced
    MQ_RETURN_IF_ERROR(inner_->Rename(from, to));
    env_->live_.erase(from_path);
    if (node != nullptr) {
      env_->live_[to_path] = node;
    } else {
      env_->live_.erase(to_path);
    }
    return Status::OK();
  }

  Status Remove(const std::string& name) override {
    const std::string path = PathOf(name);
    MQ_RETURN_IF_ERROR(env_->BeginOp("remove " + path));
    std::lock_guard<std::mutex> g(env_->mu_);
    (void)env_->TrackLocked(inner_.get(), name);
    MQ_RETURN_IF_ERROR(inner_->Remove(name));
    env_->live_.erase(path);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& name, mode_t perms, pid_t* holder_pid) override {
    *holder_pid = 0;
    MQ_RETURN_IF_ERROR(env_->CheckNotCrashed("lock " + PathOf(name)));
    return inner_->LockFile(name, perms, holder_pid);
  }

  pid_t LockHolder(const std::string& name) override { return inner_->LockHolder(name); }

 private:
  FaultEnv* env_;
  std::unique_ptr<Directory> inner_;
};

Result<std::unique_ptr<Directory>> FaultEnv::OpenDirectory(const std::string& dir) {
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Directory> inner, base_->OpenDirectory(dir));
  return std::unique_ptr<Directory>(std::make_unique<FaultDirectory>(this, std::move(inner)));
}

// ---- the same calls by path ----

Result<std::unique_ptr<File>> FaultEnv::OpenFile(const std::string& path, OpenMode mode, mode_t perms) {
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Directory> d, OpenDirectory(DirName(path)));
  return d->OpenFile(BaseName(path), mode, perms);
}

Result<FileInfo> FaultEnv::Stat(const std::string& path) {
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Directory> d, OpenDirectory(DirName(path)));
  return d->Stat(BaseName(path));
}

Status FaultEnv::SyncDir(const std::string& dir) {
  std::unique_ptr<Directory> d;
  MQ_ASSIGN_OR_RETURN(d, OpenDirectory(dir));
  return d->Sync();
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  if (DirName(from) != DirName(to))
    return Status::InvalidArgument("rename " + from + " to " + to + ": not in one directory");
  std::unique_ptr<Directory> d;
  MQ_ASSIGN_OR_RETURN(d, OpenDirectory(DirName(from)));
  return d->Rename(BaseName(from), BaseName(to));
}

Status FaultEnv::Remove(const std::string& path) {
  std::unique_ptr<Directory> d;
  MQ_ASSIGN_OR_RETURN(d, OpenDirectory(DirName(path)));
  return d->Remove(BaseName(path));
}

Result<std::unique_ptr<FileLock>> FaultEnv::LockFile(const std::string& path, mode_t perms, pid_t* holder_pid) {
  *holder_pid = 0;
  MQ_ASSIGN_OR_RETURN(std::unique_ptr<Directory> d, OpenDirectory(DirName(path)));
  return d->LockFile(BaseName(path), perms, holder_pid);
}

pid_t FaultEnv::LockHolder(const std::string& path) {
  std::unique_ptr<Directory> d;
  if (!OpenDirectory(DirName(path)).MoveTo(&d).ok()) return 0;
  return d->LockHolder(BaseName(path));
}

std::string FaultEnv::BootId() {
  std::lock_guard<std::mutex> g(mu_);
  return boot_id_;
}

uint64_t FaultEnv::NowMicros() { return base_->NowMicros(); }

// ---- power loss ----

Status FaultEnv::DropUnsyncedData(const PowerLossOptions& opt) {
  std::lock_guard<std::mutex> g(mu_);
  std::set<std::string> names;
  for (const auto& [p, n] : live_) names.insert(p);
  for (const auto& [p, n] : durable_) names.insert(p);
  for (const std::string& p : names) {
    auto it = durable_.find(p);
    std::unique_ptr<Directory> dir;
    MQ_RETURN_IF_ERROR(BaseDirOf(p, &dir));
    if (it == durable_.end()) {  // created (or renamed here) since its directory's last sync
      MQ_RETURN_IF_ERROR(dir->Remove(BaseName(p)));
      continue;
    }
    const Node& node = *it->second;
    std::string content = node.synced;
    if (opt.pages != PowerLossOptions::Pages::kOff && !node.pending.empty()) {
      std::string live = node.synced;
      for (const Node::Change& c : node.pending) Node::Apply(c, &live, SIZE_MAX);
      // The file name, not its directory (a test's scratch directory differs
      // from run to run): a seed leaves the same pages every run.
      content = PagesAfterPowerLoss(node.synced, live, opt, std::hash<std::string>()(BaseName(p)));
    } else if (opt.torn_write && !node.pending.empty() && node.pending.front().is_write) {
      const Node::Change& c = node.pending.front();
      size_t n = c.data.size();
      size_t keep = static_cast<size_t>(static_cast<double>(n) * opt.torn_fraction);
      keep = n <= 1 ? 0 : std::clamp<size_t>(keep, 1, n - 1);
      Node::Apply(c, &content, keep);
    }
    std::unique_ptr<File> f;
    MQ_ASSIGN_OR_RETURN(f, dir->OpenFile(BaseName(p), OpenMode::kCreateOrTruncate, node.mode));
    if (!content.empty()) MQ_RETURN_IF_ERROR(f->Write(0, content.data(), content.size()));
  }
  live_.clear();
  durable_.clear();
  ++epoch_;
  return Status::OK();
}

void FaultEnv::RestartProcess() {
  std::lock_guard<std::mutex> g(mu_);
  crashed_ = false;
  crash_at_ = 0;
  crash_point_.clear();
  ops_ = 0;
}

Status FaultEnv::SimulatePowerLoss(const PowerLossOptions& opt) {
  MQ_RETURN_IF_ERROR(DropUnsyncedData(opt));
  std::lock_guard<std::mutex> g(mu_);
  crashed_ = false;
  crash_at_ = 0;
  crash_point_.clear();
  ops_ = 0;
  write_fault_ = sync_fault_ = syncdir_fault_ = Injection{};
  ++power_losses_;
  boot_id_ = base_->BootId() + "+simulated-power-loss-" + std::to_string(++g_boots);
  return Status::OK();
}

size_t FaultEnv::MaxUnsyncedPages() const {
  std::lock_guard<std::mutex> g(mu_);
  size_t most = 0;
  for (const auto& [p, node] : durable_) {
    if (node->pending.empty()) continue;
    std::string live = node->synced;
    for (const Node::Change& c : node->pending) Node::Apply(c, &live, SIZE_MAX);
    size_t dirty = 0;
    for (size_t i = 0; i * kPageSize < std::max(live.size(), node->synced.size()); ++i)
      dirty += PageOf(node->synced, i) != PageOf(live, i) ? 1 : 0;
    most = std::max(most, dirty);
  }
  return most;
}

uint64_t FaultEnv::power_losses() const {
  std::lock_guard<std::mutex> g(mu_);
  return power_losses_;
}

}  // namespace mq::test
