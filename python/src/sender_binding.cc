// mq.send and mq.ConfirmedSender (docs/python.md, "Sending"). Sends run with
// the GIL released; a ConfirmedSender has a lock of its own, since the C++
// sender is not thread-safe and the GIL does not protect it while released.
#include <unistd.h>

#include <memory>
#include <mutex>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "errors.h"
#include "mq/sender.h"

namespace mqpy {
namespace {

using Ms = std::chrono::milliseconds;

std::string PayloadArg(const py::handle& b) {
  if (py::isinstance<py::bytes>(b)) return b.cast<std::string>();
  if (py::isinstance<py::bytearray>(b) || PyObject_CheckBuffer(b.ptr()))
    return py::bytes(py::reinterpret_borrow<py::object>(b)).cast<std::string>();
  throw py::type_error("payload must be bytes (or another bytes-like object), not " +
                       std::string(py::str(py::type::of(b).attr("__name__"))));
}

struct PyConfirmation {
  uint64_t ticket = 0;
  uint64_t seq = 0;
  py::object error;  // None, or the mq.Error for this message
};

class PyConfirmedSender {
 public:
  PyConfirmedSender(const py::object& path, size_t window, const py::object& reply_timeout,
                    const py::object& connect_retry) {
    path_ = PathArg(path, "path");
    mq::ConfirmedSenderOptions o;
    if (window == 0) throw py::value_error("window must be at least 1");
    o.window = window;
    o.reply_timeout = SecondsArg(reply_timeout, Ms(10000), "reply_timeout");
    o.connect_retry = SecondsArg(connect_retry, Ms(0), "connect_retry");
    std::unique_ptr<mq::ConfirmedSender> cs;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      s = mq::ConfirmedSender::Open(path_, o).MoveTo(&cs);
    }
    if (!s.ok()) Raise(s);
    cs_ = std::move(cs);
    reply_timeout_ = o.reply_timeout;
    pid_ = getpid();
  }

  uint64_t Send(const py::handle& payload, const py::object& timeout) {
    std::string p = PayloadArg(payload);
    Ms t = SecondsArg(timeout, reply_timeout_, "timeout");
    Check();
    uint64_t seq = 0;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> g(mu_);
      s = cs_ ? cs_->SendConfirmed(p, t).MoveTo(&seq) : Closed();
    }
    if (!s.ok()) Raise(s);
    return seq;
  }

  uint64_t SendAsync(const py::handle& payload) {
    std::string p = PayloadArg(payload);
    Check();
    uint64_t ticket = 0;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> g(mu_);
      s = cs_ ? cs_->SendAsync(p).MoveTo(&ticket) : Closed();
    }
    if (!s.ok()) Raise(s);
    return ticket;
  }

  // Every message in flight answered (or timed out), in send order.
  std::vector<PyConfirmation> Wait() {
    Check();
    std::vector<mq::Confirmation> got;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> g(mu_);
      s = cs_ ? cs_->Flush(&got) : Closed();
    }
    std::vector<PyConfirmation> out;
    for (const mq::Confirmation& c : got)
      out.push_back({c.ticket, c.seq, c.status.ok() ? py::none() : ErrorFor(c.status)});
    if (!s.ok()) Raise(s);
    return out;
  }

  size_t InFlight() {
    std::lock_guard<std::mutex> g(mu_);
    return cs_ ? cs_->in_flight() : 0;
  }

  void Close() {
    std::unique_ptr<mq::ConfirmedSender> cs;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> g(mu_);
      cs = std::move(cs_);
      cs.reset();
    }
  }
  bool closed() {
    std::lock_guard<std::mutex> g(mu_);
    return !cs_;
  }
  const std::string& path() const { return path_; }

 private:
  mq::Status Closed() const { return mq::Status::Closed(path_ + ": the sender is closed"); }
  void Check() const {
    if (getpid() != pid_)
      RaiseError(path_ + ": this ConfirmedSender was opened by process " + std::to_string(pid_) +
                 "; its reply socket belongs to that process, so after fork() the child must open its own");
  }
  std::mutex mu_;
  std::unique_ptr<mq::ConfirmedSender> cs_;
  std::string path_;
  Ms reply_timeout_{10000};
  pid_t pid_ = 0;
};

}  // namespace

void BindSenders(py::module_& m) {
  m.def("send", [](const py::object& path, const py::handle& payload, const py::object& retry_for) {
          std::string p = PathArg(path, "path");
          std::string data = PayloadArg(payload);
          mq::SendOptions o;
          o.retry_for = SecondsArg(retry_for, Ms(0), "retry_for");
          mq::Status s;
          {
            py::gil_scoped_release nogil;
            s = mq::Send(p, data, o);
          }
          if (!s.ok()) Raise(s);
        }, py::arg("path"), py::arg("payload"), py::kw_only(), py::arg("retry_for") = 0.0,
        "Sends one datagram to the mailbox at path (not confirmed: the kernel took it).");

  py::class_<PyConfirmation>(m, "Confirmation", "The answer for one message sent with send_async.")
      .def_readonly("ticket", &PyConfirmation::ticket)
      .def_readonly("seq", &PyConfirmation::seq)
      .def_readonly("error", &PyConfirmation::error)
      .def_property_readonly("ok", [](const PyConfirmation& c) { return c.error.is_none(); })
      .def("__repr__", [](const PyConfirmation& c) {
        return "mq.Confirmation(ticket=" + std::to_string(c.ticket) + ", seq=" + std::to_string(c.seq) +
               ", error=" + std::string(py::repr(c.error)) + ")";
      });

  py::class_<PyConfirmedSender>(m, "ConfirmedSender")
      .def(py::init<const py::object&, size_t, const py::object&, const py::object&>(), py::arg("path"),
           py::kw_only(), py::arg("window") = 64, py::arg("reply_timeout") = 10.0, py::arg("connect_retry") = 0.0)
      .def("send", &PyConfirmedSender::Send, py::arg("payload"), py::arg("timeout") = py::none())
      .def("send_async", &PyConfirmedSender::SendAsync, py::arg("payload"))
      .def("wait", &PyConfirmedSender::Wait)
      .def_property_readonly("in_flight", &PyConfirmedSender::InFlight)
      .def_property_readonly("path", &PyConfirmedSender::path)
      .def_property_readonly("closed", &PyConfirmedSender::closed)
      .def("close", &PyConfirmedSender::Close)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyConfirmedSender& s, const py::object&, const py::object&, const py::object&) {
        s.Close();
        return false;
      });
}

}  // namespace mqpy
