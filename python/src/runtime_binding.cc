// mq.Runtime (docs/python.md, "Many mailboxes: mq.Runtime"): the shared
// runtime of mq/runtime.h, so that one interpreter can hold hundreds of
// mailboxes on a fixed set of threads (an ingest reactor, a confirmer, a
// sync thread and an index writer) instead of four threads each.
//
// The Python object holds one reference to the mq::Runtime; every mailbox
// opened with it holds another. close() (or leaving the with block) drops
// the object's reference: no new mailbox can be opened with it, and the
// threads stop when the last of its mailboxes is closed.
#include <memory>
#include <mutex>

#include "bindings.h"
#include "errors.h"
#include "mq/runtime.h"
#include "process.h"

namespace mqpy {
namespace {

class PyRuntime {
 public:
  PyRuntime() {
    std::shared_ptr<mq::Runtime> rt;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      s = mq::Runtime::Create().MoveTo(&rt);
    }
    if (!s.ok()) Raise(s);
    rt_ = std::move(rt);
    pid_ = ThisProcess();
  }
  ~PyRuntime() {
    if (rt_ && ThisProcess() != pid_) {
      // A forked child: the threads are not here; joining them would hang.
      new std::shared_ptr<mq::Runtime>(std::move(rt_));
      return;
    }
    py::gil_scoped_release nogil;
    rt_.reset();
  }

  std::shared_ptr<mq::Runtime> Get() const {
    if (ThisProcess() != pid_)
      RaiseError("this Runtime was made by process " + std::to_string(pid_) +
                 "; its threads are not in a forked child, which must make its own");
    if (!rt_) Raise(mq::Status::Closed("the runtime is closed: open mailboxes with a new mq.Runtime()"));
    return rt_;
  }

  void Close() {
    std::shared_ptr<mq::Runtime> rt = std::move(rt_);
    if (!rt || ThisProcess() != pid_) {
      if (rt) new std::shared_ptr<mq::Runtime>(std::move(rt));
      return;
    }
    py::gil_scoped_release nogil;
    rt.reset();  // joins the threads if no mailbox holds them
  }
  bool closed() const { return !rt_; }

  py::dict Stats() {
    std::shared_ptr<mq::Runtime> rt = Get();
    mq::RuntimeStats st;
    {
      py::gil_scoped_release nogil;
      st = rt->Stats();
    }
    py::dict d;
    d["mailboxes"] = st.mailboxes;
    d["ingest_turns"] = st.ingest_turns;
    d["confirm_passes"] = st.confirm_passes;
    return d;
  }

 private:
  std::shared_ptr<mq::Runtime> rt_;
  pid_t pid_ = 0;
};

}  // namespace

std::shared_ptr<mq::Runtime> RuntimeArg(const py::object& runtime) {
  if (runtime.is_none()) return nullptr;
  if (!py::isinstance<PyRuntime>(runtime))
    throw py::type_error("runtime must be None or an mq.Runtime, not " +
                         std::string(py::str(py::type::of(runtime).attr("__name__"))));
  return runtime.cast<PyRuntime&>().Get();
}

void BindRuntime(py::module_& m) {
  py::class_<PyRuntime>(m, "Runtime",
                        "Threads shared by many mailboxes: mq.Mailbox(..., runtime=rt) has none of its own.")
      .def(py::init<>())
      .def("stats", &PyRuntime::Stats)
      .def("close", &PyRuntime::Close)
      .def_property_readonly("closed", &PyRuntime::closed)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyRuntime& rt, const py::object&, const py::object&, const py::object&) {
        rt.Close();
        return false;
      });
}

}  // namespace mqpy
