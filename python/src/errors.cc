#include "errors.h"

#include <array>

namespace mqpy {
namespace {

using Code = mq::Status::Code;

PyObject* g_error = nullptr;
PyObject* g_nomatch = nullptr;
std::array<PyObject*, 12> g_by_code{};  // indexed by Status::Code

PyObject* Make(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  std::string full = std::string("mq.") + name;
  PyObject* t = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases, nullptr);
  if (t == nullptr) throw py::error_already_set();
  m.attr(name) = py::handle(t);  // the module keeps a reference; so does this file
  return t;
}

PyObject* Tuple(PyObject* a, PyObject* b) {
  PyObject* t = PyTuple_Pack(2, a, b);
  if (t == nullptr) throw py::error_already_set();
  return t;
}

}  // namespace

void RegisterErrors(py::module_& m) {
  g_error = Make(m, "Error", PyExc_Exception,
                 "Base of every mq error. str() is the library's message; .code names the status code.");
  g_nomatch = Make(m, "NoMatch", PyExc_Exception,
                   "Raised by a callable pattern: this message does not match, look at the next one.");
  auto sub = [&](Code c, const char* name, PyObject* also, const char* doc) {
    PyObject* bases = also != nullptr ? Tuple(g_error, also) : (Py_INCREF(g_error), g_error);
    g_by_code[static_cast<size_t>(c)] = Make(m, name, bases, doc);
    Py_DECREF(bases);
  };
  sub(Code::kNotFound, "NotFound", nullptr, "No such file, socket or message.");
  sub(Code::kInvalidArgument, "InvalidArgument", PyExc_ValueError, "A malformed option or argument.");
  sub(Code::kCorruption, "Corruption", nullptr, "Bytes on disk fail a checksum or the record grammar.");
  sub(Code::kIOError, "IOError", PyExc_OSError, "The operating system refused an operation; .errno says why.");
  sub(Code::kBusy, "Busy", nullptr, "Another process holds the queue's writer lock.");
  sub(Code::kUnsupported, "Unsupported", nullptr, "The file was written by a newer format version.");
  sub(Code::kNotALog, "NotALog", nullptr, "The file is not an mq message log.");
  sub(Code::kTimedOut, "Timeout", PyExc_TimeoutError, "A wait ran out of time.");
  sub(Code::kTooLarge, "TooLarge", nullptr, "A message is larger than the maximum.");
  sub(Code::kDenied, "Denied", nullptr, "A sender or caller is not admitted.");
  sub(Code::kClosed, "Closed", nullptr, "The mailbox or sender was closed.");
}

PyObject* NoMatchType() { return g_nomatch; }

py::object ErrorFor(const mq::Status& s) {
  PyObject* type = g_by_code[static_cast<size_t>(s.code())];
  if (type == nullptr) type = g_error;
  py::object e = py::reinterpret_borrow<py::object>(type)(s.message());
  e.attr("code") = py::str(mq::Status::CodeName(s.code()));
  e.attr("errno") = s.sys_errno() != 0 ? py::object(py::int_(s.sys_errno())) : py::none();
  return e;
}

void Raise(const mq::Status& s) {
  py::object e = ErrorFor(s);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.ptr())), e.ptr());
  throw py::error_already_set();
}

void RaiseError(const std::string& text) {
  PyErr_SetString(g_error, text.c_str());
  throw py::error_already_set();
}

}  // namespace mqpy
