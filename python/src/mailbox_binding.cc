// mq.Mailbox, mq.Message and the patterns (docs/python.md, "Receiving").
//
// Every call into the mailbox runs with the GIL released. A blocking receive
// waits in slices of at most kSlice and, between slices, takes the GIL to run
// the signal handlers (Ctrl-C raises KeyboardInterrupt within a slice). A
// callable pattern runs on the receiving thread with the GIL taken back; the
// store's lock is held meanwhile, so a pattern may not call into any mailbox
// (a thread-local flag turns that into mq.Error instead of a deadlock).
//
// fileno() is the mailbox's readiness eventfd (mq::Mailbox::ReadyFd). A poll
// (timeout 0) drains it before it looks and makes it readable again when it
// returns a message (another may be pending), so the descriptor is readable
// from any change until a poll finds nothing: a selector loop that polls
// once per wakeup misses nothing (docs/python.md, "Event loops").
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "errors.h"
#include "message_type.h"
#include "mq/mailbox.h"
#include "mq/runtime.h"
#include "mq/pattern.h"
#include "process.h"

namespace mqpy {
namespace {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
constexpr Ms kSlice{50};  // the longest wait without looking at signals

thread_local int t_in_pattern = 0;  // > 0 while this thread runs a callable pattern

// mq.ANY: the pattern most receives pass (and the default), recognised by
// identity rather than by a pybind11 type lookup and a copy.
PyObject* g_any = nullptr;

// State of one receive with a callable pattern, touched only by its thread.
struct CallableCtx {
  PyObject* fn = nullptr;  // borrowed: the caller's argument keeps it alive
  py::object value;
  bool failed = false;
  PyObject *type = nullptr, *val = nullptr, *tb = nullptr;  // the exception it raised
  ~CallableCtx() {
    Py_XDECREF(type);
    Py_XDECREF(val);
    Py_XDECREF(tb);
  }
};

std::string TypeName(const py::handle& o) { return py::str(py::type::of(o).attr("__name__")); }

mq::Pattern ToPattern(const py::object& pattern, CallableCtx* ctx) {
  if (pattern.ptr() == g_any) return mq::Pattern::Any();
  if (py::isinstance<mq::Pattern>(pattern)) return pattern.cast<mq::Pattern>();
  if (!PyCallable_Check(pattern.ptr()))
    throw py::type_error("pattern must be mq.ANY, mq.prefix(b'...'), mq.key(b'...') or a callable, not " +
                         TypeName(pattern));
  ctx->fn = pattern.ptr();
  return mq::Pattern::Predicate([ctx](std::string_view payload) -> bool {
    if (ctx->failed) return false;  // an exception ends the receive: match nothing more
    py::gil_scoped_acquire gil;
    ++t_in_pattern;
    PyObject* b = PyBytes_FromStringAndSize(payload.data(), static_cast<Py_ssize_t>(payload.size()));
    PyObject* r = b != nullptr ? PyObject_CallOneArg(ctx->fn, b) : nullptr;
    Py_XDECREF(b);
    --t_in_pattern;
    if (r != nullptr) {
      ctx->value = py::reinterpret_steal<py::object>(r);
      return true;
    }
    if (PyErr_ExceptionMatches(NoMatchType())) {
      PyErr_Clear();
      return false;
    }
    PyErr_Fetch(&ctx->type, &ctx->val, &ctx->tb);
    ctx->failed = true;
    return false;
  });
}

class PyMailbox {
 public:
  PyMailbox(const py::object& socket, const py::object& queue, const std::string& sync, const py::object& key,
            const py::object& admitted_uids, bool admit_any_uid, uint64_t max_message_size, int socket_mode,
            double batch_interval, const py::object& runtime) {
    mq::MailboxOptions o;
    o.runtime = RuntimeArg(runtime);
    if (!socket.is_none()) o.socket_path = PathArg(socket, "socket");
    o.queue_path = PathArg(queue, "queue");
    auto sp = mq::ParseSyncPolicy(sync);
    if (!sp.ok()) Raise(sp.status());
    o.store.sync = sp.value();
    if (!(batch_interval > 0)) throw py::value_error("batch_interval must be > 0 seconds");
    o.store.batch_interval = Ms(static_cast<int64_t>(batch_interval * 1000.0 + 0.5));
    if (!key.is_none()) {
      if (!py::isinstance<py::str>(key))
        throw py::type_error("key must be None or a key extractor spec such as 'first:4' or 'until:,', not " +
                             TypeName(key));
      auto k = mq::KeyExtractor::Parse(key.cast<std::string>());
      if (!k.ok()) Raise(k.status());
      o.store.key = k.value();
    }
    if (!admitted_uids.is_none()) {
      for (const py::handle& u : admitted_uids) {
        if (!py::isinstance<py::int_>(u)) throw py::type_error("admitted_uids must hold ints, not " + TypeName(u));
        o.admitted_uids.push_back(u.cast<uid_t>());
      }
    }
    o.admit_any_uid = admit_any_uid;
    o.max_message_size = max_message_size;
    o.socket_mode = static_cast<mode_t>(socket_mode);
    // The socket hand-off (docs/supervision.md): under a supervisor that
    // bound this path and passes it (MQ_SOCKET_FD, MQ_SOCKET), adopt its
    // descriptor instead of binding, as mqtool recv --socket does.
    if (!o.socket_path.empty()) {
      mq::Status env = mq::InheritSocketFromEnvironment(&o);
      if (!env.ok()) Raise(env);
    }
    queue_ = o.queue_path;
    std::unique_ptr<mq::Mailbox> mb;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      s = mq::Mailbox::Open(o).MoveTo(&mb);
    }
    if (!s.ok()) Raise(s);
    mb_ = std::move(mb);
    pid_ = ThisProcess();
  }

  ~PyMailbox() {
    if (kept_) {
      py::gil_scoped_release nogil;
      kept_.reset();
    }
    if (!mb_) return;
    if (ThisProcess() != pid_) {
      // A forked child: the ingest thread is not here, and the socket and
      // lock are the parent's. Closing would unlink the parent's socket, so
      // the object is left as it is.
      new std::shared_ptr<mq::Mailbox>(std::move(mb_));
      return;
    }
    py::gil_scoped_release nogil;
    mb_.reset();
  }

  void Close() {
    Check(false);
    std::shared_ptr<mq::Mailbox> mb = std::move(mb_);
    if (!mb) return;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      s = mb->Close();
      // The readiness descriptor lives as long as the mq::Mailbox: kept
      // until this object goes, so an event loop still watching it never
      // watches a closed or reused number.
      if (ready_fd_ >= 0)
        kept_ = std::move(mb);
      else
        mb.reset();
    }
    if (!s.ok()) Raise(s);
  }

  int Fileno() {
    if (ready_fd_ >= 0 && t_in_pattern == 0) return ready_fd_;
    std::shared_ptr<mq::Mailbox> mb = Check(true);
    mq::Result<int> fd = mb->ReadyFd();
    if (!fd.ok()) Raise(fd.status());
    ready_fd_ = *fd;
    return ready_fd_;
  }

  bool closed() const { return !mb_; }
  const std::string& queue() const { return queue_; }

  // receive/take: one message, a mq.Message.
  py::object Find(const py::object& pattern, const py::object& timeout, bool take) {
    std::shared_ptr<mq::Mailbox> mb = Check(true);
    RaiseDeferred();
    const Ms total = SecondsArg(timeout, mq::Mailbox::kForever, "timeout");
    CallableCtx ctx;
    const mq::Pattern p = ToPattern(pattern, &ctx);
    mq::Message msg;
    mq::Mailbox::ScanCursor cursor;
    WaitFirst(*mb, p, &ctx, total, take, &cursor, &msg);
    return NewMessage(msg.seq, msg.payload, std::move(ctx.value));
  }

  // receive_many (take_many: take): the first message as receive waits for
  // it, then up to limit - 1 more that are pending already, all consumed
  // (taken); a list of mq.Message in queue order. One scan cursor serves the
  // whole call, so a callable pattern sees each pending message once, not
  // once per message returned. The rest are found in one call without the
  // GIL: per message, no Python call, no argument parsing, no GIL hand-over.
  // Whatever ends the rest (nothing more matches, the mailbox closed, a
  // store error, a callable pattern raised) ends the batch without an
  // exception: the messages consumed so far are returned. A store error is
  // met again by the next call; what a callable pattern raised is kept and
  // raised by the next receive, take or receive_many, before it looks (the
  // message it raised on stays pending), so a KeyboardInterrupt in the
  // middle of a batch is delivered, one batch late, and nothing is lost.
  py::list FindMany(const py::object& pattern, const py::object& timeout, size_t limit, bool take) {
    if (limit == 0) throw py::value_error("limit must be at least 1");
    std::shared_ptr<mq::Mailbox> mb = Check(true);
    RaiseDeferred();
    const Ms total = SecondsArg(timeout, mq::Mailbox::kForever, "timeout");
    CallableCtx ctx;
    const mq::Pattern p = ToPattern(pattern, &ctx);
    mq::Message first;
    mq::Mailbox::ScanCursor cursor;
    WaitFirst(*mb, p, &ctx, total, take, &cursor, &first);
    py::object first_value = std::move(ctx.value);
    std::vector<mq::Message> more;
    std::vector<py::object> values;  // a callable's results, moved without the GIL, released with it
    {
      py::gil_scoped_release nogil;
      more.reserve(std::min<size_t>(limit - 1, 1024));
      if (ctx.fn != nullptr) values.reserve(std::min<size_t>(limit - 1, 1024));
      for (size_t i = 1; i < limit && !ctx.failed; ++i) {
        mq::Message m;
        const mq::Status s = take ? mb->Take(p, mq::Mailbox::kPoll, &m, &cursor)
                                  : mb->Receive(p, mq::Mailbox::kPoll, &m, &cursor);
        if (!s.ok()) break;
        more.push_back(std::move(m));
        if (ctx.fn != nullptr) values.push_back(std::move(ctx.value));
      }
    }
    if (ctx.failed) {  // raised by the next call; the message it raised on stays pending
      deferred_type_ = py::reinterpret_steal<py::object>(ctx.type);
      deferred_val_ = py::reinterpret_steal<py::object>(ctx.val);
      deferred_tb_ = py::reinterpret_steal<py::object>(ctx.tb);
      ctx.type = ctx.val = ctx.tb = nullptr;
    }
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(1 + more.size()));
    if (list == nullptr) throw py::error_already_set();
    py::list out = py::reinterpret_steal<py::list>(list);
    PyList_SET_ITEM(list, 0, NewMessage(first.seq, first.payload, std::move(first_value)).release().ptr());
    for (size_t i = 0; i < more.size(); ++i)
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i + 1),
                      NewMessage(more[i].seq, more[i].payload, ctx.fn != nullptr ? std::move(values[i]) : py::object())
                          .release()
                          .ptr());
    return out;
  }

  void Ack(uint64_t seq) { SeqCall(seq, &mq::Mailbox::Ack); }
  void Release(uint64_t seq) { SeqCall(seq, &mq::Mailbox::Release); }

  py::dict Stats() {
    std::shared_ptr<mq::Mailbox> mb = Check(true);
    mq::MailboxStats st;
    {
      py::gil_scoped_release nogil;
      st = mb->Stats();
    }
    py::dict d;
    d["datagrams"] = st.datagrams;
    d["stored"] = st.stored;
    d["rejected_too_large"] = st.rejected_too_large;
    d["rejected_not_admitted"] = st.rejected_not_admitted;
    d["store_errors"] = st.store_errors;
    d["batches"] = st.batches;
    d["confirmations"] = st.confirmations;
    d["replies_dropped"] = st.replies_dropped;
    d["received"] = st.received;
    d["pending"] = st.store.pending;
    d["taken"] = st.store.taken;
    d["consumed"] = st.store.consumed;
    d["file_bytes"] = st.store.file_bytes;
    d["pending_bytes"] = st.store.pending_bytes;
    d["reclaimable_bytes"] = st.store.reclaimable_bytes;
    d["first_pending_seq"] = st.store.first_pending_seq;
    d["last_seq"] = st.store.last_seq;
    d["durable_seq"] = st.store.durable_seq;
    d["format_version"] = st.store.format_version;
    d["log_id"] = st.store.log_id;
    d["compactions"] = st.store.compactions;
    d["syncs"] = st.store.syncs;
    return d;
  }

 private:
  // The mailbox, or raises: inside a pattern, in a forked child, closed.
  std::shared_ptr<mq::Mailbox> Check(bool need_open) {
    if (t_in_pattern > 0)
      RaiseError(queue_ +
                 ": a pattern called into a mailbox; patterns run while the queue is locked for the scan, so "
                 "they cannot receive, take, ack, release or close: return a value from the pattern and act on "
                 "it after receive returns");
    if (mb_ && ThisProcess() != pid_)
      RaiseError(queue_ + ": this Mailbox was opened by process " + std::to_string(pid_) +
                 "; after fork() the child must open its own mailbox (on another queue, or after the parent "
                 "closed this one)");
    if (need_open && !mb_) Raise(mq::Status::Closed(queue_ + ": the mailbox is closed"));
    return mb_;
  }

  // The first message matching p, waiting up to `total` (kForever: no
  // limit) in slices that look at signals; raises mq.Timeout, the library's
  // error, or what a callable pattern raised. GIL held on entry and exit.
  // The slices share *cursor: a callable pattern is not run again on the
  // messages an earlier slice already found not to match.
  void WaitFirst(mq::Mailbox& mb, const mq::Pattern& p, CallableCtx* ctx, Ms total, bool take,
                 mq::Mailbox::ScanCursor* cursor, mq::Message* msg) {
    const bool forever = total == mq::Mailbox::kForever;
    const Clock::time_point deadline = forever ? Clock::time_point::max() : Clock::now() + total;
    mq::Status s;
    // A poll drains the readiness descriptor before it looks: what was
    // signalled before is in the store by then, what comes later signals anew.
    // Unless the poll finds nothing, it leaves the descriptor readable: after
    // a message another may be pending, after an exception (a pattern
    // raised) the messages are still there.
    struct Rearm {
      int fd;
      bool found_nothing = false;
      ~Rearm() {
        const uint64_t one = 1;
        if (fd >= 0 && !found_nothing) (void)!::write(fd, &one, sizeof(one));
      }
    } rearm{total == Ms::zero() ? ready_fd_ : -1};
    if (rearm.fd >= 0) {
      uint64_t n = 0;
      (void)!::read(rearm.fd, &n, sizeof(n));
    }
    Ms slice = mq::Mailbox::kPoll;  // a first look that does not wait
    while (true) {
      {
        py::gil_scoped_release nogil;
        s = take ? mb.Take(p, slice, msg, cursor) : mb.Receive(p, slice, msg, cursor);
      }
      if (s.ok()) return;
      if (ctx->failed) {
        PyErr_Restore(ctx->type, ctx->val, ctx->tb);
        ctx->type = ctx->val = ctx->tb = nullptr;
        throw py::error_already_set();
      }
      if (!s.IsTimedOut()) Raise(s);
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      Ms left = forever ? kSlice : std::chrono::ceil<Ms>(deadline - Clock::now());
      if (left <= Ms::zero()) {
        rearm.found_nothing = true;
        Raise(s);
      }
      slice = std::min(left, kSlice);
    }
  }

  // Raises what a callable pattern raised in the middle of the last batch.
  void RaiseDeferred() {
    if (!deferred_type_) return;
    PyErr_Restore(deferred_type_.release().ptr(), deferred_val_.release().ptr(), deferred_tb_.release().ptr());
    throw py::error_already_set();
  }

  void SeqCall(uint64_t seq, mq::Status (mq::Mailbox::*fn)(uint64_t)) {
    std::shared_ptr<mq::Mailbox> mb = Check(true);
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      s = ((*mb).*fn)(seq);
    }
    if (!s.ok()) Raise(s);
  }

  std::shared_ptr<mq::Mailbox> mb_;
  std::shared_ptr<mq::Mailbox> kept_;  // closed, kept for its readiness descriptor
  int ready_fd_ = -1;                  // mq::Mailbox::ReadyFd once fileno() was called
  std::string queue_;
  py::object deferred_type_, deferred_val_, deferred_tb_;  // RaiseDeferred; GIL held
  pid_t pid_ = 0;
};

}  // namespace

void BindMailbox(py::module_& m) {
  py::class_<mq::Pattern>(m, "Pattern", "A pattern the library matches itself: mq.ANY, mq.prefix(), mq.key().")
      .def("__repr__", [](const mq::Pattern& p) { return "<mq.Pattern " + p.ToString() + ">"; });
  py::object any = py::cast(mq::Pattern::Any());
  g_any = any.ptr();  // the module keeps it alive
  m.attr("ANY") = any;
  m.def("prefix", [](const py::object& b) { return mq::Pattern::Prefix(BytesArg(b, "prefix")); }, py::arg("prefix"),
        "Payloads that start with these bytes.");
  m.def("key", [](const py::object& b) { return mq::Pattern::Key(BytesArg(b, "key")); }, py::arg("key"),
        "Payloads whose key (the mailbox's key extractor) is exactly these bytes; an index lookup.");

  RegisterMessage(m);

  py::class_<PyMailbox>(m, "Mailbox")
      .def("fileno", &PyMailbox::Fileno)
      .def(py::init<const py::object&, const py::object&, const std::string&, const py::object&,
                    const py::object&, bool, uint64_t, int, double, const py::object&>(),
           py::kw_only(), py::arg("socket"), py::arg("queue"), py::arg("sync") = "batch",
           py::arg("key") = py::none(), py::arg("admitted_uids") = py::none(), py::arg("admit_any_uid") = false,
           py::arg("max_message_size") = 64 * 1024, py::arg("socket_mode") = 0600,
           py::arg("batch_interval") = 0.010, py::arg("runtime") = py::none())
      .def("close", &PyMailbox::Close)
      .def_property_readonly("closed", &PyMailbox::closed)
      .def_property_readonly("queue", &PyMailbox::queue)
      .def("receive", [](PyMailbox& mb, const py::object& pattern, const py::object& timeout) {
             return mb.Find(pattern, timeout, false);
           }, py::arg("pattern") = any, py::arg("timeout") = py::none())
      .def("take", [](PyMailbox& mb, const py::object& pattern, const py::object& timeout) {
             return mb.Find(pattern, timeout, true);
           }, py::arg("pattern") = any, py::arg("timeout") = py::none())
      .def("receive_many", [](PyMailbox& mb, const py::object& pattern, const py::object& timeout, size_t limit) {
             return mb.FindMany(pattern, timeout, limit, false);
           }, py::arg("pattern") = any, py::arg("timeout") = py::none(), py::arg("limit") = 1000)
      .def("take_many", [](PyMailbox& mb, const py::object& pattern, const py::object& timeout, size_t limit) {
             return mb.FindMany(pattern, timeout, limit, true);
           }, py::arg("pattern") = any, py::arg("timeout") = py::none(), py::arg("limit") = 1000)
      .def("ack", &PyMailbox::Ack, py::arg("seq"))
      .def("release", &PyMailbox::Release, py::arg("seq"))
      .def("stats", &PyMailbox::Stats)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyMailbox& mb, const py::object&, const py::object&, const py::object&) {
        if (!mb.closed()) mb.Close();
        return false;
      });
}

}  // namespace mqpy
