// The parts of the extension module mq._mq, one file per concept.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <memory>
#include <string>

namespace mq {
class Runtime;
}

namespace mqpy {

namespace py = pybind11;

void BindMailbox(py::module_& m);   // mq.Mailbox, mq.Message, patterns (mailbox_binding.cc)
void BindSenders(py::module_& m);   // mq.send, mq.ConfirmedSender (sender_binding.cc)
void BindReadLog(py::module_& m);   // mq.read_log (read_log_binding.cc)
void BindRuntime(py::module_& m);   // mq.Runtime (runtime_binding.cc)

// A path argument: str, bytes or os.PathLike (os.fspath); TypeError otherwise.
std::string PathArg(const py::handle& p, const char* what);
// bytes, or any object with the buffer protocol (bytearray, memoryview), as
// its bytes; TypeError "<what> must be bytes ..." otherwise.
std::string BytesArg(const py::handle& b, const char* what);
// A timeout in seconds (int or float, >= 0) as milliseconds, rounded up;
// None gives `if_none`. ValueError for a negative or NaN value.
std::chrono::milliseconds SecondsArg(const py::handle& t, std::chrono::milliseconds if_none, const char* what);
// Mailbox(runtime=...): None (nullptr) or an open mq.Runtime's runtime;
// TypeError, mq.Closed, or mq.Error in a forked child otherwise.
std::shared_ptr<mq::Runtime> RuntimeArg(const py::object& runtime);

}  // namespace mqpy
