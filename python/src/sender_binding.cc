// mq.send and mq.ConfirmedSender (docs/python.md, "Sending"). Sends run with
// the GIL released; a ConfirmedSender has a lock of its own, since the C++
// sender is not thread-safe and the GIL does not protect it while released.
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pybind11/stl.h>

#include "bindings.h"
#include "errors.h"
#include "process.h"
#include "mq/sender.h"

namespace mqpy {
namespace {

using Ms = std::chrono::milliseconds;

std::string PayloadArg(const py::handle& b) { return BytesArg(b, "payload"); }

// mq.Sender: one connected socket for many unconfirmed sends; send_many
// sends a batch with sendmmsg (mq::Sender::SendBatch), 64 datagrams a system
// call, with the GIL released once for the whole batch.
class PySender {
 public:
  PySender(const py::object& path, const py::object& retry_for) {
    path_ = PathArg(path, "path");
    mq::SendOptions o;
    o.retry_for = SecondsArg(retry_for, Ms(0), "retry_for");
    std::unique_ptr<mq::Sender> s;
    mq::Status st;
    {
      py::gil_scoped_release nogil;
      st = mq::Sender::Open(path_, o).MoveTo(&s);
    }
    if (!st.ok()) Raise(st);
    s_ = std::move(s);
    pid_ = ThisProcess();
  }

  void Send(const py::handle& payload) {
    std::string p = PayloadArg(payload);
    Check();
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> g(mu_);
      s = s_ ? s_->Send(p) : Closed();
    }
    if (!s.ok()) Raise(s);
  }

  // Every payload, in order; returns how many were sent (all of them, or it
  // raises: the error says how many of them went before it).
  size_t SendMany(const py::iterable& payloads) {
    std::vector<std::string> data;
    if (py::isinstance<py::list>(payloads) || py::isinstance<py::tuple>(payloads)) data.reserve(py::len(payloads));
    for (const py::handle& b : payloads) data.push_back(PayloadArg(b));
    Check();
    size_t sent = 0;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::vector<std::string_view> views(data.begin(), data.end());
      std::lock_guard<std::mutex> g(mu_);
      s = s_ ? s_->SendBatch(views, &sent) : Closed();
    }
    if (!s.ok())
      Raise(s.WithContext(std::to_string(sent) + " of " + std::to_string(data.size()) +
                          " messages were sent, the rest were not"));
    return sent;
  }

  void Close() {
    std::unique_ptr<mq::Sender> s;
    std::lock_guard<std::mutex> g(mu_);
    s = std::move(s_);
  }
  bool closed() {
    std::lock_guard<std::mutex> g(mu_);
    return !s_;
  }
  const std::string& path() const { return path_; }

 private:
  mq::Status Closed() const { return mq::Status::Closed(path_ + ": the sender is closed"); }
  void Check() const {
    if (ThisProcess() != pid_)
      RaiseError(path_ + ": this Sender was opened by process " + std::to_string(pid_) +
                 "; after fork() the child must open its own");
  }
  std::mutex mu_;
  std::unique_ptr<mq::Sender> s_;
  std::string path_;
  pid_t pid_ = 0;
};

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
    pid_ = ThisProcess();
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

  // send_async for every payload in order, batched: as many a system call
  // as the window has room for, and, once the mailbox's answers offered
  // packs, up to 64 messages a datagram (mq::ConfirmedSender::SendAsyncBatch;
  // docs/mailbox.md, "Packed sends"). The GIL is released once for the
  // whole list. Returns the first message's ticket (the others follow it);
  // raises if not all were sent, saying how many were (they have tickets).
  uint64_t SendAsyncMany(const py::iterable& payloads) {
    std::vector<std::string> data;
    if (py::isinstance<py::list>(payloads) || py::isinstance<py::tuple>(payloads)) data.reserve(py::len(payloads));
    for (const py::handle& b : payloads) data.push_back(PayloadArg(b));
    if (data.empty()) throw py::value_error("payloads is empty: nothing to send");
    Check();
    uint64_t first = 0;
    size_t sent = 0;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::vector<std::string_view> views(data.begin(), data.end());
      std::lock_guard<std::mutex> g(mu_);
      if (!cs_) {
        s = Closed();
      } else {
        while (sent < views.size() && s.ok()) {
          size_t n = 0;
          mq::Result<uint64_t> r = cs_->SendAsyncBatch(std::span<const std::string_view>(views).subspan(sent), &n);
          if (r.ok() && sent == 0) first = *r;
          if (!r.ok()) s = r.status();
          else if (n == 0) s = mq::Status::IOError(path_ + ": a batch sent nothing", EIO);
          sent += n;
        }
      }
    }
    if (!s.ok())
      Raise(s.WithContext(std::to_string(sent) + " of " + std::to_string(data.size()) +
                          " messages were sent (they have tickets and will be answered), the rest were not"));
    return first;
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
    if (ThisProcess() != pid_)
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

  py::class_<PySender>(m, "Sender", "Unconfirmed sends to one mailbox over one connected socket.")
      .def(py::init<const py::object&, const py::object&>(), py::arg("path"), py::kw_only(),
           py::arg("retry_for") = 0.0)
      .def("send", &PySender::Send, py::arg("payload"))
      .def("send_many", &PySender::SendMany, py::arg("payloads"))
      .def_property_readonly("path", &PySender::path)
      .def_property_readonly("closed", &PySender::closed)
      .def("close", &PySender::Close)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PySender& s, const py::object&, const py::object&, const py::object&) {
        s.Close();
        return false;
      });

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
      .def("send_async_many", &PyConfirmedSender::SendAsyncMany, py::arg("payloads"))
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
