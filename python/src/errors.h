// The exception hierarchy of the mq module (docs/python.md, "Exceptions"):
// mq.Error and one subclass per mq::Status code, each carrying the Status
// text (file, offset, what to do). Also mq.NoMatch, which a callable pattern
// raises to say "not this message".
#pragma once

#include <pybind11/pybind11.h>

#include "mq/status.h"

namespace mqpy {

namespace py = pybind11;

// Creates the exception classes as attributes of `m`.
void RegisterErrors(py::module_& m);

// Raises (throws py::error_already_set) the exception for a non-OK status.
// Needs the GIL.
[[noreturn]] void Raise(const mq::Status& s);
// Raises mq.Error with `text` (for misuse the C++ library cannot see).
[[noreturn]] void RaiseError(const std::string& text);
// The exception instance for a status (for confirmations), GIL held.
py::object ErrorFor(const mq::Status& s);
// mq.NoMatch.
PyObject* NoMatchType();

}  // namespace mqpy
