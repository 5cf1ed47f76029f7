// mq.read_log (docs/python.md, "Inspecting a queue"): the messages of a log,
// as `mqtool dump --all` lists them, read without the writer lock.
//
// Lazily: mq::ScanLog runs on a thread of its own and hands records over a
// bounded queue (kMaxRecords, or kMaxBytes of payload, whichever comes
// first), so memory stays bounded whatever the log's size. The iterator
// takes them one at a time; dropping it (or close()) stops the scan.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "bindings.h"
#include "errors.h"
#include "mq/inspect.h"

namespace mqpy {
namespace {

constexpr size_t kMaxRecords = 256;
constexpr size_t kMaxBytes = 4 << 20;

struct Rec {
  uint64_t seq = 0;
  bool consumed = false;
  std::string payload;
};

py::tuple ToTuple(Rec& r) {
  return py::make_tuple(r.seq, r.consumed ? "consumed" : "pending", py::bytes(r.payload));
}

class LogReader {
 public:
  // Starts the scan and waits for its first record or its end, so that the
  // errors of opening the log (no such file, not a log, a directory) are
  // raised by read_log itself.
  explicit LogReader(std::string path) : path_(std::move(path)) {
    thread_ = std::thread([this] { Scan(); });
    mq::Status s;
    {
      // mu_ only without the GIL (the scan thread never takes the GIL).
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> g(mu_);
      ready_.wait(g, [&] { return !queue_.empty() || done_; });
      if (queue_.empty()) s = status_;
      g.unlock();
      if (!s.ok()) Stop();
    }
    if (!s.ok()) Raise(s);
  }

  ~LogReader() {
    py::gil_scoped_release nogil;
    Stop();
  }

  py::tuple Next() {
    Rec r;
    bool got = false;
    mq::Status s;
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> g(mu_);
      ready_.wait(g, [&] { return !queue_.empty() || done_; });
      if (!queue_.empty()) {
        r = std::move(queue_.front());
        queue_.pop_front();
        bytes_ -= r.payload.size();
        got = true;
      } else {
        s = status_;
        status_ = mq::Status::OK();  // raised once; then the iterator is exhausted
      }
      g.unlock();
      if (got)
        space_.notify_one();
      else
        Stop();
    }
    if (got) return ToTuple(r);
    if (!s.ok()) Raise(s);
    throw py::stop_iteration();
  }

  void Close() {
    py::gil_scoped_release nogil;
    Stop();
  }

 private:
  void Scan() {
    mq::LogSummary summary;
    mq::Status s = mq::ScanLog(path_, mq::InspectOptions{}, [this](const mq::LogMessage& r) {
      std::unique_lock<std::mutex> g(mu_);
      space_.wait(g, [&] { return stop_ || queue_.empty() || (queue_.size() < kMaxRecords && bytes_ < kMaxBytes); });
      if (stop_) return false;
      queue_.push_back({r.seq, r.consumed, std::string(r.payload)});
      bytes_ += r.payload.size();
      ready_.notify_one();
      return true;
    }).MoveTo(&summary);
    std::lock_guard<std::mutex> g(mu_);
    status_ = s;
    done_ = true;
    ready_.notify_all();
  }

  // Ends the scan (if running) and joins its thread. Without the GIL.
  void Stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
      queue_.clear();
      bytes_ = 0;
    }
    space_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::string path_;
  std::mutex mu_;
  std::condition_variable ready_;  // a record or the end is there
  std::condition_variable space_;  // the queue has room, or stop_
  std::deque<Rec> queue_;
  size_t bytes_ = 0;
  bool done_ = false;
  bool stop_ = false;
  mq::Status status_;
  std::thread thread_;
};

}  // namespace

void BindReadLog(py::module_& m) {
  py::class_<LogReader>(m, "_LogReader", "The iterator mq.read_log returns.")
      .def(py::init([](const py::object& path) { return new LogReader(PathArg(path, "path")); }),
           py::arg("path"))
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &LogReader::Next)
      .def("close", &LogReader::Close, "Stops reading (the iterator is then exhausted).");

  // The whole log at once: the eager reading the tests compare with.
  m.def("_scan_log", [](const py::object& path) {
          std::string p = PathArg(path, "path");
          std::vector<Rec> recs;
          mq::LogSummary summary;
          mq::Status s;
          {
            py::gil_scoped_release nogil;
            s = mq::ScanLog(p, mq::InspectOptions{}, [&recs](const mq::LogMessage& r) {
              recs.push_back({r.seq, r.consumed, std::string(r.payload)});
              return true;
            }).MoveTo(&summary);
          }
          if (!s.ok()) Raise(s);
          py::list out;
          for (Rec& r : recs) out.append(ToTuple(r));
          return out;
        }, py::arg("path"));
}

}  // namespace mqpy
