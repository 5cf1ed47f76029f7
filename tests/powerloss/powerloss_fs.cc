// powerloss_fs: a FUSE passthrough filesystem that forgets what was never
// made durable, for power-loss tests (docs/powerloss.md; issue 17).
//
//   powerloss_fs BACKING MOUNTPOINT
//       Mounts BACKING at MOUNTPOINT (single-threaded, in the foreground) and
//       prints "ready" on stdout once the mount is up. Every operation goes
//       through to BACKING at once, so reads see every write; what is not yet
//       durable is remembered so that it can be taken back:
//         - data: the durable image of every 4 KiB page written (or cut by a
//           truncate) since the file's last fsync/fdatasync (msync and O_DSYNC
//           writes reach the filesystem as an fsync too), and the size at
//           that fsync;
//         - names: create, mkdir, mknod, symlink, link, unlink, rmdir and
//           rename, in the order they happened, until a directory fsync of
//           a directory they touched (an unlinked or replaced file is kept
//           in BACKING/.powerloss-trash until then).
//   Power cut: write "cut SEED [PID...]\n" to MOUNTPOINT/.powerloss-ctl.
//       The filesystem freezes (it is single-threaded: no other operation runs
//       until the cut is done), SIGSTOPs then SIGKILLs every process in the
//       trees of the PIDs given and every other process with a file, a
//       directory or a mapping open under MOUNTPOINT (except the writer of
//       the command), then leaves in BACKING only what survives the cut:
//         - every durable write and name;
//         - of the unsynced writes of each file, chosen by SEED: all, none,
//           a random subset of its 4 KiB pages (in any order: a later page
//           may survive without an earlier one, the gap reading as the old
//           bytes or as zeros past the durable size), or all but the last
//           page written, which is torn (a random subset of its 512-byte
//           sectors survives);
//         - of the unsynced name operations, a prefix of them in the order
//           they happened (journaled metadata), at least up to the last one a
//           directory fsync made durable.
//       The write then returns, and the filesystem unmounts and exits 0. The
//       test mounts BACKING again and runs the program again.
//
// Exit: 0 after a cut or an unmount, 2 usage, 3 an error.
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kSector = 512;
constexpr const char* kCtl = "/.powerloss-ctl";
constexpr const char* kTrash = ".powerloss-trash";

int g_root = -1;          // BACKING
std::string g_mountpoint;
bool g_frozen = false;    // after a cut: every operation fails

// What is not yet durable in one file (keyed by its inode in BACKING).
struct Inode {
  int fd = -1;                    // O_RDWR on the backing file, kept open
  uint64_t durable_size = 0;      // the size at its last fsync
  std::map<uint64_t, std::string> pre;  // page -> its durable bytes (short past durable_size)
  uint64_t last_page = 0;         // the page written last
};
std::map<std::pair<dev_t, ino_t>, Inode> g_inodes;

// One name operation not yet made durable, and how to take it back.
struct NameOp {
  enum Kind { kCreated, kRemoved, kRenamed } kind;
  std::string path;         // created / removed name; rename: the old name
  std::string path2;        // rename: the new name
  std::string trash;        // removed file, or the file a rename replaced
  bool dir = false;         // kCreated: a directory
};
std::vector<NameOp> g_ops;
size_t g_durable_ops = 0;   // g_ops[0, g_durable_ops) are durable
int g_trash_seq = 0;

std::string Rel(const char* path) {
  return path[0] == '/' && path[1] == '\0' ? std::string(".") : std::string(path + 1);
}
std::string Parent(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string(".") : rel.substr(0, slash);
}
bool Hidden(const char* path) { return std::strncmp(path + 1, kTrash, std::strlen(kTrash)) == 0; }

int Err() { return -errno; }

// The record of the file open as fd, made at the first change since the mount.
Inode* Track(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
  auto [it, fresh] = g_inodes.try_emplace({st.st_dev, st.st_ino});
  if (fresh) {
    it->second.fd = ::dup(fd);
    it->second.durable_size = static_cast<uint64_t>(st.st_size);
  }
  return &it->second;
}

// Keeps the durable bytes of pages [first, last] before they change.
void SavePages(Inode* in, uint64_t first, uint64_t last) {
  for (uint64_t p = first; p <= last; ++p) {
    if (in->pre.count(p) != 0) continue;
    std::string bytes;
    const uint64_t off = p * kPage;
    if (off < in->durable_size) {
      bytes.resize(std::min(kPage, in->durable_size - off));
      const ssize_t r = ::pread(in->fd, bytes.data(), bytes.size(), static_cast<off_t>(off));
      bytes.resize(r > 0 ? static_cast<size_t>(r) : 0);
    }
    in->pre.emplace(p, std::move(bytes));
  }
}

void SaveRange(int fd, uint64_t off, uint64_t len) {
  Inode* in = Track(fd);
  if (in == nullptr || len == 0) return;
  SavePages(in, off / kPage, (off + len - 1) / kPage);
  in->last_page = (off + len - 1) / kPage;
}

void SaveTruncate(int fd, uint64_t new_size) {
  Inode* in = Track(fd);
  if (in == nullptr) return;
  struct stat st;
  if (::fstat(fd, &st) != 0) return;
  const uint64_t old = static_cast<uint64_t>(st.st_size);
  const uint64_t lo = std::min(old, new_size), hi = std::max(old, new_size);
  if (hi > lo) SavePages(in, lo / kPage, (hi - 1) / kPage);
}

std::string NewTrash() { return std::string(kTrash) + "/" + std::to_string(g_trash_seq++); }

// ---- the power cut ----

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const pid_t p = std::atoi(e->d_name);
    if (p <= 0) continue;
    std::ifstream st("/proc/" + std::to_string(p) + "/stat");
    std::string line;
    std::getline(st, line);
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(p);
  }
  ::closedir(d);
  return out;
}

bool UsesMount(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string prefix = g_mountpoint + "/";
  auto under = [&](const std::string& p) { return p == g_mountpoint || p.compare(0, prefix.size(), prefix) == 0; };
  char buf[4096];
  for (const char* link : {"/cwd", "/root"}) {
    const ssize_t n = ::readlink((base + link).c_str(), buf, sizeof buf - 1);
    if (n > 0 && under(std::string(buf, static_cast<size_t>(n)))) return true;
  }
  if (DIR* d = ::opendir((base + "/fd").c_str())) {
    bool found = false;
    while (dirent* e = ::readdir(d)) {
      const ssize_t n = ::readlinkat(::dirfd(d), e->d_name, buf, sizeof buf - 1);
      if (n > 0 && under(std::string(buf, static_cast<size_t>(n)))) found = true;
    }
    ::closedir(d);
    if (found) return true;
  }
  std::ifstream maps(base + "/maps");
  for (std::string line; std::getline(maps, line);) {
    const size_t slash = line.find('/');
    if (slash != std::string::npos && under(line.substr(slash))) return true;
  }
  return false;
}

// Freezes then kills the trees of `roots` and every user of the mount but `spare`.
void KillAll(std::vector<pid_t> roots, pid_t spare) {
  std::set<pid_t> stopped;
  for (int pass = 0; pass < 3; ++pass) {
    if (DIR* d = ::opendir("/proc")) {
      while (dirent* e = ::readdir(d)) {
        const pid_t p = std::atoi(e->d_name);
        if (p > 0 && p != ::getpid() && p != spare && UsesMount(p)) roots.push_back(p);
      }
      ::closedir(d);
    }
    while (!roots.empty()) {
      const pid_t p = roots.back();
      roots.pop_back();
      if (p <= 0 || p == ::getpid() || p == spare || !stopped.insert(p).second) continue;
      ::kill(p, SIGSTOP);
      for (pid_t c : ChildrenOf(p)) roots.push_back(c);
    }
  }
  for (pid_t p : stopped) ::kill(p, SIGKILL);
}

void RestoreFile(Inode& in, std::mt19937_64& rng) {
  if (in.pre.empty()) return;
  struct stat st;
  if (::fstat(in.fd, &st) != 0) return;
  const uint64_t now = static_cast<uint64_t>(st.st_size);
  // 0 all, 1 none, 2 a random subset of pages, 3 all but a torn last page
  const int outcome = static_cast<int>(rng() % 4);
  std::set<uint64_t> kept;  // pages whose new bytes survive
  std::map<uint64_t, uint64_t> torn_sectors;  // page -> bit mask of surviving sectors
  for (const auto& [p, bytes] : in.pre) {
    if (outcome == 2 && rng() % 2 == 0) kept.insert(p);
    if (outcome == 0 || (outcome == 3 && p != in.last_page)) kept.insert(p);
  }
  if (outcome == 3) torn_sectors[in.last_page] = rng() & 0xff;
  uint64_t size = in.durable_size;
  if (outcome == 0 || outcome == 3) {
    size = now;
  } else if (outcome == 2) {
    if (now < in.durable_size) {
      size = rng() % 2 == 0 ? now : in.durable_size;
    } else {
      // The size covers the surviving pages (the on-disk size follows the
      // data written, as with ext4's and xfs's delayed allocation).
      for (uint64_t p : kept) size = std::max(size, std::min(now, (p + 1) * kPage));
    }
  }
  static const char* const kOutcome[] = {"all", "none", "a subset of pages", "a torn last page"};
  std::fprintf(stderr, "powerloss_fs:   inode %llu: durable size %llu, size %llu, %zu unsynced pages: %s kept, size now %llu\n",
               static_cast<unsigned long long>(st.st_ino), static_cast<unsigned long long>(in.durable_size),
               static_cast<unsigned long long>(now), in.pre.size(), kOutcome[outcome],
               static_cast<unsigned long long>(size));
  if (::ftruncate(in.fd, static_cast<off_t>(size)) != 0) std::perror("powerloss_fs: ftruncate");
  for (const auto& [p, old] : in.pre) {
    if (kept.count(p) != 0 || p * kPage >= size) continue;
    std::string page = old;
    page.resize(std::min(kPage, size - p * kPage), '\0');
    if (auto t = torn_sectors.find(p); t != torn_sectors.end()) {
      std::string now_bytes(page.size(), '\0');
      const ssize_t r = ::pread(in.fd, now_bytes.data(), now_bytes.size(), static_cast<off_t>(p * kPage));
      if (r < 0) continue;
      for (uint64_t s = 0; s * kSector < page.size(); ++s) {
        if ((t->second >> s) & 1) {
          const size_t n = std::min<size_t>(kSector, page.size() - s * kSector);
          std::memcpy(page.data() + s * kSector, now_bytes.data() + s * kSector, n);
        }
      }
    }
    if (::pwrite(in.fd, page.data(), page.size(), static_cast<off_t>(p * kPage)) < 0)
      std::perror("powerloss_fs: pwrite");
  }
  ::fsync(in.fd);
}

void Undo(const NameOp& op) {
  auto must = [](int rc, const std::string& what) {
    if (rc != 0) std::fprintf(stderr, "powerloss_fs: undo %s: %s\n", what.c_str(), std::strerror(errno));
  };
  switch (op.kind) {
    case NameOp::kCreated:
      must(::unlinkat(g_root, op.path.c_str(), op.dir ? AT_REMOVEDIR : 0), "create " + op.path);
      break;
    case NameOp::kRemoved:
      must(::renameat(g_root, op.trash.c_str(), g_root, op.path.c_str()), "remove " + op.path);
      break;
    case NameOp::kRenamed:
      must(::renameat(g_root, op.path2.c_str(), g_root, op.path.c_str()), "rename " + op.path2);
      if (!op.trash.empty())
        must(::renameat(g_root, op.trash.c_str(), g_root, op.path2.c_str()), "replace " + op.path2);
      break;
  }
}

void CutPower(uint64_t seed, const std::vector<pid_t>& roots, pid_t spare) {
  g_frozen = true;
  KillAll(roots, spare);
  std::mt19937_64 rng(seed);
  for (auto& [key, in] : g_inodes) RestoreFile(in, rng);
  const size_t n = g_ops.size();
  size_t keep = n;
  switch (rng() % 3) {
    case 0: keep = n; break;
    case 1: keep = g_durable_ops; break;
    default: keep = g_durable_ops + rng() % (n - g_durable_ops + 1); break;
  }
  for (size_t i = n; i > keep; --i) Undo(g_ops[i - 1]);
  ::fsync(g_root);
  std::fprintf(stderr, "powerloss_fs: power cut, seed %llu: %zu files with unsynced pages, %zu of %zu unsynced name operations kept\n",
               static_cast<unsigned long long>(seed), g_inodes.size(), keep - g_durable_ops, n - g_durable_ops);
  fuse_exit(fuse_get_context()->fuse);
}

// ---- FUSE operations: passthrough to BACKING, remembering what is unsynced ----

#define FROZEN_CHECK() \
  do {                 \
    if (g_frozen) return -EIO; \
  } while (0)

void* Init(fuse_conn_info* conn, fuse_config* cfg) {
  // One page cache for write() and mapped stores, written back to us by the
  // kernel (at fsync at the latest). Without it a mapped page's write-back
  // can carry bytes older than a write() that reached us first, which no
  // local filesystem does.
  if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  cfg->hard_remove = 1;  // unlink reaches us, never a .fuse_hidden rename
  cfg->entry_timeout = cfg->attr_timeout = cfg->negative_timeout = 0;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info* fi) {
  if (fi != nullptr && fi->fh != 0) return ::fstat(static_cast<int>(fi->fh), st) == 0 ? 0 : Err();
  if (std::strcmp(path, kCtl) == 0) {
    std::memset(st, 0, sizeof *st);
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    return 0;
  }
  if (Hidden(path)) return -ENOENT;
  return ::fstatat(g_root, Rel(path).c_str(), st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Err();
}

int ReadLink(const char* path, char* buf, size_t size) {
  const ssize_t n = ::readlinkat(g_root, Rel(path).c_str(), buf, size - 1);
  if (n < 0) return Err();
  buf[n] = '\0';
  return 0;
}

void Created(const std::string& rel, bool dir) { g_ops.push_back({NameOp::kCreated, rel, "", "", dir}); }

int MkNod(const char* path, mode_t mode, dev_t dev) {
  FROZEN_CHECK();
  if (::mknodat(g_root, Rel(path).c_str(), mode, dev) != 0) return Err();
  Created(Rel(path), false);
  return 0;
}

int MkDir(const char* path, mode_t mode) {
  FROZEN_CHECK();
  if (::mkdirat(g_root, Rel(path).c_str(), mode) != 0) return Err();
  Created(Rel(path), true);
  return 0;
}

int SymLink(const char* target, const char* path) {
  FROZEN_CHECK();
  if (::symlinkat(target, g_root, Rel(path).c_str()) != 0) return Err();
  Created(Rel(path), false);
  return 0;
}

int Link(const char* from, const char* to) {
  FROZEN_CHECK();
  if (::linkat(g_root, Rel(from).c_str(), g_root, Rel(to).c_str(), 0) != 0) return Err();
  Created(Rel(to), false);
  return 0;
}

// unlink and rmdir move the name into the trash, so that a cut can put it back.
int Remove(const char* path, bool dir) {
  FROZEN_CHECK();
  if (Hidden(path)) return -ENOENT;
  const std::string rel = Rel(path);
  struct stat st;
  if (::fstatat(g_root, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Err();
  if (dir && !S_ISDIR(st.st_mode)) return -ENOTDIR;
  if (!dir && S_ISDIR(st.st_mode)) return -EISDIR;
  if (dir) {  // only an empty directory may go
    const int fd = ::openat(g_root, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) return Err();
    DIR* d = ::fdopendir(fd);
    int entries = 0;
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++entries;
    ::closedir(d);
    if (entries > 0) return -ENOTEMPTY;
  }
  const std::string trash = NewTrash();
  if (::renameat(g_root, rel.c_str(), g_root, trash.c_str()) != 0) return Err();
  g_ops.push_back({NameOp::kRemoved, rel, "", trash, dir});
  return 0;
}
int Unlink(const char* path) { return Remove(path, false); }
int RmDir(const char* path) { return Remove(path, true); }

int Rename(const char* from, const char* to, unsigned int flags) {
  FROZEN_CHECK();
  if (flags != 0) return -EINVAL;  // no RENAME_EXCHANGE / NOREPLACE in this model
  const std::string a = Rel(from), b = Rel(to);
  struct stat st;
  std::string trash;
  if (::fstatat(g_root, b.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    trash = NewTrash();
    if (::renameat(g_root, b.c_str(), g_root, trash.c_str()) != 0) return Err();
  }
  if (::renameat(g_root, a.c_str(), g_root, b.c_str()) != 0) {
    const int e = errno;
    if (!trash.empty()) (void)::renameat(g_root, trash.c_str(), g_root, b.c_str());
    return -e;
  }
  g_ops.push_back({NameOp::kRenamed, a, b, trash, false});
  return 0;
}

int ChMod(const char* path, mode_t mode, fuse_file_info* fi) {
  FROZEN_CHECK();
  if (fi != nullptr && fi->fh != 0) return ::fchmod(static_cast<int>(fi->fh), mode) == 0 ? 0 : Err();
  return ::fchmodat(g_root, Rel(path).c_str(), mode, 0) == 0 ? 0 : Err();
}

int ChOwn(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  FROZEN_CHECK();
  if (fi != nullptr && fi->fh != 0) return ::fchown(static_cast<int>(fi->fh), uid, gid) == 0 ? 0 : Err();
  return ::fchownat(g_root, Rel(path).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Err();
}

int Truncate(const char* path, off_t size, fuse_file_info* fi) {
  FROZEN_CHECK();
  int fd = fi != nullptr && fi->fh != 0 ? static_cast<int>(fi->fh) : -1;
  const bool own = fd < 0;
  if (own) fd = ::openat(g_root, Rel(path).c_str(), O_RDWR | O_NOFOLLOW);
  if (fd < 0) return Err();
  SaveTruncate(fd, static_cast<uint64_t>(size));
  const int rc = ::ftruncate(fd, size) == 0 ? 0 : Err();
  if (own) ::close(fd);
  return rc;
}

int UTimens(const char* path, const timespec tv[2], fuse_file_info* fi) {
  FROZEN_CHECK();
  if (fi != nullptr && fi->fh != 0) return ::futimens(static_cast<int>(fi->fh), tv) == 0 ? 0 : Err();
  return ::utimensat(g_root, Rel(path).c_str(), tv, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : Err();
}

// Files are opened read-write underneath whatever the caller asked, so that
// the record of a file has a descriptor it can restore through; the kernel
// checks the caller's access mode itself.
int OpenFlags(int flags) { return (flags & ~(O_ACCMODE | O_TRUNC | O_APPEND | O_CREAT | O_EXCL)) | O_RDWR | O_NOFOLLOW; }

int Open(const char* path, fuse_file_info* fi) {
  FROZEN_CHECK();
  if (std::strcmp(path, kCtl) == 0) {
    fi->fh = 0;
    fi->direct_io = 1;
    return 0;
  }
  if (Hidden(path)) return -ENOENT;
  int fd = ::openat(g_root, Rel(path).c_str(), OpenFlags(fi->flags));
  if (fd < 0 && errno == EACCES) fd = ::openat(g_root, Rel(path).c_str(), (fi->flags & ~O_TRUNC) | O_NOFOLLOW);
  if (fd < 0) return Err();
  if (fi->flags & O_TRUNC) {
    SaveTruncate(fd, 0);
    if (::ftruncate(fd, 0) != 0) {
      const int e = errno;
      ::close(fd);
      return -e;
    }
  }
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Create(const char* path, mode_t mode, fuse_file_info* fi) {
  FROZEN_CHECK();
  if (Hidden(path)) return -EPERM;
  const int fd = ::openat(g_root, Rel(path).c_str(), OpenFlags(fi->flags) | O_CREAT | O_EXCL, mode);
  if (fd < 0) return Err();
  Created(Rel(path), false);
  Track(fd);  // a new file: durable size 0
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int Read(const char* path, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  (void)path;
  if (fi->fh == 0) return 0;
  const ssize_t n = ::pread(static_cast<int>(fi->fh), buf, size, off);
  return n < 0 ? Err() : static_cast<int>(n);
}

int Control(const char* buf, size_t size) {
  std::istringstream in(std::string(buf, size));
  std::string verb;
  uint64_t seed = 0;
  in >> verb >> seed;
  if (verb != "cut") return -EINVAL;
  std::vector<pid_t> roots;
  for (pid_t p; in >> p;) roots.push_back(p);
  // The writer of the command survives: it is the test, not the system under it.
  pid_t spare = fuse_get_context()->pid;
  std::ifstream status("/proc/" + std::to_string(spare) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Tgid:", 0) == 0) spare = std::atoi(line.c_str() + 5);
  CutPower(seed, roots, spare);
  return static_cast<int>(size);
}

int Write(const char* path, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  (void)path;
  FROZEN_CHECK();
  if (fi->fh == 0) return Control(buf, size);
  const int fd = static_cast<int>(fi->fh);
  SaveRange(fd, static_cast<uint64_t>(off), size);
  const ssize_t n = ::pwrite(fd, buf, size, off);
  return n < 0 ? Err() : static_cast<int>(n);
}

int StatFs(const char* path, struct statvfs* st) {
  (void)path;
  return ::fstatvfs(g_root, st) == 0 ? 0 : Err();
}

int Release(const char* path, fuse_file_info* fi) {
  (void)path;
  if (fi->fh != 0) ::close(static_cast<int>(fi->fh));
  return 0;
}

// fsync, fdatasync, msync(MS_SYNC) and O_DSYNC writes: the file's data and size are durable.
int FSync(const char* path, int datasync, fuse_file_info* fi) {
  (void)path;
  (void)datasync;
  FROZEN_CHECK();
  if (fi->fh == 0) return 0;
  Inode* in = Track(static_cast<int>(fi->fh));
  if (in == nullptr) return 0;
  struct stat st;
  if (::fstat(in->fd, &st) != 0) return Err();
  in->pre.clear();
  in->durable_size = static_cast<uint64_t>(st.st_size);
  return 0;
}

int OpenDir(const char* path, fuse_file_info* fi) {
  FROZEN_CHECK();
  if (Hidden(path)) return -ENOENT;
  const int fd = ::openat(g_root, Rel(path).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd < 0) return Err();
  fi->fh = static_cast<uint64_t>(fd);
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info* fi, fuse_readdir_flags) {
  const int fd = ::dup(static_cast<int>(fi->fh));
  if (fd < 0) return Err();
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) return Err();
  ::rewinddir(d);
  const bool root = path != nullptr && std::strcmp(path, "/") == 0;
  while (dirent* e = ::readdir(d)) {
    if (root && std::strcmp(e->d_name, kTrash) == 0) continue;
    fill(buf, e->d_name, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  }
  ::closedir(d);
  return 0;
}

int ReleaseDir(const char* path, fuse_file_info* fi) {
  (void)path;
  ::close(static_cast<int>(fi->fh));
  return 0;
}

// A directory fsync makes durable every name operation up to the last one
// that touched this directory (the journal commits in order).
int FSyncDir(const char* path, int datasync, fuse_file_info* fi) {
  (void)datasync;
  (void)fi;
  FROZEN_CHECK();
  if (path == nullptr) return 0;
  const std::string dir = Rel(path);
  for (size_t i = g_ops.size(); i > g_durable_ops; --i) {
    const NameOp& op = g_ops[i - 1];
    if (Parent(op.path) == dir || (op.kind == NameOp::kRenamed && Parent(op.path2) == dir)) {
      g_durable_ops = i;
      break;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: powerloss_fs BACKING MOUNTPOINT\n");
    return 2;
  }
  g_root = ::open(argv[1], O_RDONLY | O_DIRECTORY);
  char real[PATH_MAX];
  if (g_root < 0 || ::realpath(argv[2], real) == nullptr) {
    std::perror("powerloss_fs");
    return 3;
  }
  g_mountpoint = real;
  // A trash left by an earlier mount holds nothing durable any more.
  (void)std::system(("rm -rf -- '" + std::string(argv[1]) + "/" + kTrash + "'").c_str());
  if (::mkdirat(g_root, kTrash, 0700) != 0) {
    std::perror("powerloss_fs: mkdir trash");
    return 3;
  }
  fuse_operations ops{};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.mknod = MkNod;
  ops.mkdir = MkDir;
  ops.symlink = SymLink;
  ops.link = Link;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.rename = Rename;
  ops.chmod = ChMod;
  ops.chown = ChOwn;
  ops.truncate = Truncate;
  ops.utimens = UTimens;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.statfs = StatFs;
  ops.release = Release;
  ops.fsync = FSync;
  ops.opendir = OpenDir;
  ops.readdir = ReadDir;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FSyncDir;
  char arg0[] = "powerloss_fs", opt[] = "-o", allow[] = "allow_other,default_permissions";
  char* fargv[] = {arg0, opt, allow, nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, fargv);
  fuse* f = fuse_new(&args, &ops, sizeof ops, nullptr);
  if (f == nullptr || fuse_mount(f, g_mountpoint.c_str()) != 0) {
    std::fprintf(stderr, "powerloss_fs: cannot mount %s (is /dev/fuse usable?)\n", g_mountpoint.c_str());
    return 3;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  const int rc = fuse_loop(f);
  fuse_unmount(f);
  fuse_destroy(f);
  (void)std::system(("rm -rf -- '" + std::string(argv[1]) + "/" + kTrash + "'").c_str());
  return rc == 0 ? 0 : 3;
}
