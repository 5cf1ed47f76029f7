// mq._mq: the extension module behind the `mq` package (docs/python.md).
#include <cmath>
#include <limits>

#include "bindings.h"
#include "errors.h"
#include "process.h"

namespace mqpy {

std::string PathArg(const py::handle& p, const char* what) {
  if (py::isinstance<py::str>(p) || py::isinstance<py::bytes>(p) || py::hasattr(p, "__fspath__")) {
    py::object f = py::module_::import("os").attr("fsencode")(p);
    std::string s = f.cast<std::string>();
    if (s.find('\0') != std::string::npos)
      throw py::value_error(std::string(what) + " contains a NUL byte");
    return s;
  }
  throw py::type_error(std::string(what) + " must be a str, bytes or os.PathLike path, not " +
                       std::string(py::str(py::type::of(p).attr("__name__"))));
}

std::string BytesArg(const py::handle& b, const char* what) {
  if (py::isinstance<py::bytes>(b)) return b.cast<std::string>();
  if (PyObject_CheckBuffer(b.ptr())) {  // bytearray, memoryview, ...: the bytes as they are
    Py_buffer view;
    if (PyObject_GetBuffer(b.ptr(), &view, PyBUF_SIMPLE) != 0) throw py::error_already_set();
    std::string out(static_cast<const char*>(view.buf), static_cast<size_t>(view.len));
    PyBuffer_Release(&view);
    return out;
  }
  throw py::type_error(std::string(what) + " must be bytes (or another bytes-like object), not " +
                       std::string(py::str(py::type::of(b).attr("__name__"))));
}

std::chrono::milliseconds SecondsArg(const py::handle& t, std::chrono::milliseconds if_none, const char* what) {
  if (t.is_none()) return if_none;
  if (py::isinstance<py::bool_>(t) || !(py::isinstance<py::int_>(t) || py::isinstance<py::float_>(t)))
    throw py::type_error(std::string(what) + " must be a number of seconds or None, not " +
                         std::string(py::str(py::type::of(t).attr("__name__"))));
  double s = t.cast<double>();
  if (std::isnan(s) || s < 0)
    throw py::value_error(std::string(what) + " must be >= 0 seconds (None waits forever), not " +
                          std::string(py::str(t)));
  double ms = std::ceil(s * 1000.0);
  if (ms >= 1e15) return if_none;  // effectively forever
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace mqpy

PYBIND11_MODULE(_mq, m) {
  m.doc() = "Durable mailboxes for actor processes: the C++ library behind the mq package";
  mqpy::InitProcess();
  mqpy::RegisterErrors(m);
  mqpy::BindRuntime(m);
  mqpy::BindMailbox(m);
  mqpy::BindSenders(m);
  mqpy::BindReadLog(m);
}
