// mq.Message (docs/python.md, "Receiving"): a small C type with three
// read-only attributes, seq, payload and value. Made once per received
// message, so it is a plain CPython type rather than a pybind11 class, whose
// instances cost a type lookup and a registry entry each.
#pragma once

#include <cstdint>
#include <string_view>

#include <pybind11/pybind11.h>

namespace mqpy {

namespace py = pybind11;

// Creates the type and adds it to `m` as Message.
void RegisterMessage(py::module_& m);
// A new Message: payload copied into a new bytes object; value is what a
// callable pattern returned, or a null handle for "the payload".
// GIL held; throws py::error_already_set if Python is out of memory.
py::object NewMessage(uint64_t seq, std::string_view payload, py::object value);

}  // namespace mqpy
